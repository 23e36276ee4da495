package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
)

// answer is what one POST /v1/events said about a batch.
type answer struct {
	ok     bool          // 201: every event has a receipt
	acked  int           // receipts
	dups   int           // receipts marked duplicate
	reject int           // index of an event trail refused for good; -1 for none
	split  bool          // trail refused the batch without naming an event (400, 413): halve it
	err    error         // why: the refusal, or the failure that may pass
	after  time.Duration // Retry-After
}

// deliver sends events until each is acknowledged or rejected. A refusal
// that names an event (4xx with field "events[i]…") rejects that event and
// sends the rest at once; one that names none halves the batch until it
// does. On a failure that may pass (network error, timeout, 5xx, 429, 401,
// 403) it calls giveUp with the events not yet delivered and the number of
// consecutive failures; giveUp sleeps and returns false to retry, or
// returns true to stop, and deliver returns those events.
func (c *Client) deliver(events [][]byte, replay bool, giveUp func(rest [][]byte, attempt int, after time.Duration) bool) (rest [][]byte) {
	pending := [][][]byte{events} // chunks still to send, in order
	attempt := 0
	for len(pending) > 0 {
		chunk := pending[0]
		if attempt > 0 {
			c.n.retried.Add(int64(len(chunk)))
		}
		a := c.post(chunk)
		switch {
		case a.ok:
			c.n.acked.Add(int64(a.acked))
			c.n.dups.Add(int64(a.dups))
			if replay {
				c.n.replayed.Add(int64(a.acked))
			}
			pending = pending[1:]
			attempt = 0
		case a.reject >= 0:
			c.rejected(chunk[a.reject], a.err)
			chunk = append(chunk[:a.reject:a.reject], chunk[a.reject+1:]...)
			if len(chunk) == 0 {
				pending = pending[1:]
			} else {
				pending[0] = chunk
			}
		case a.split && len(chunk) == 1:
			c.rejected(chunk[0], a.err)
			pending = pending[1:]
		case a.split:
			h := len(chunk) / 2
			pending = append([][][]byte{chunk[:h:h], chunk[h:]}, pending[1:]...)
		default:
			attempt++
			var all [][]byte
			for _, p := range pending {
				all = append(all, p...)
			}
			if attempt == 1 || attempt%10 == 0 {
				c.log.Warn("trail client: trail did not take a batch; retrying", "events", len(all), "attempt", attempt, "err", a.err)
			}
			if giveUp(all, attempt, a.after) {
				return all
			}
		}
	}
	return nil
}

// rejected reports an event trail refused for good.
func (c *Client) rejected(event []byte, err error) {
	c.n.rejected.Add(1)
	id := eventID(event)
	c.log.Error("trail client: trail rejected an event; it is not retried", "id", id, "err", err)
	if c.cfg.OnReject != nil {
		c.cfg.OnReject(id, event, err)
	}
}

// post sends one request and classifies the answer.
func (c *Client) post(events [][]byte) answer {
	// {"events":[…]}, not NDJSON: trail's NDJSON reader mangles bodies
	// larger than 64 KiB (see docs/sdk-go.md).
	n := len(`{"events":[]}`) + len(events)
	for _, e := range events {
		n += len(e)
	}
	body := append(make([]byte, 0, n), `{"events":[`...)
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e...)
	}
	body = append(body, "]}"...)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return answer{reject: -1, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.Key)
	req.Header.Set("User-Agent", "trail-go-client")
	start := time.Now()
	a := c.roundTrip(req, len(events))
	outcome := "retry"
	switch {
	case a.ok:
		outcome = "ok"
	case a.reject >= 0 || a.split:
		outcome = "reject"
	}
	c.latency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return a
}

func (c *Client) roundTrip(req *http.Request, events int) answer {
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return answer{reject: -1, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return answer{reject: -1, err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK {
		var out struct {
			Receipts []struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			} `json:"receipts"`
		}
		if err := json.Unmarshal(data, &out); err != nil || len(out.Receipts) != events {
			return answer{reject: -1, err: fmt.Errorf("POST /v1/events: %d receipts for %d events, or an unreadable body (%v)", len(out.Receipts), events, err)}
		}
		a := answer{ok: true, reject: -1, acked: events}
		for _, r := range out.Receipts {
			if r.Duplicate {
				a.dups++
			}
		}
		return a
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	json.Unmarshal(data, &eb)
	te := &trail.Error{Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
	if te.Code == "" {
		te.Code, te.Message = trail.EINTERNAL, strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	a := answer{reject: -1, err: fmt.Errorf("POST /v1/events: %s: %w", resp.Status, te)}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		a.after = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	case s == http.StatusUnauthorized || s == http.StatusForbidden && te.Field == "":
		// The key is wrong or lacks the role: nothing any event can fix.
		// Retried (the operator may fix the key) and logged.
	case s >= 400 && s < 500:
		if i, ok := eventIndex(te.Field); ok && i < events {
			a.reject = i
		} else if s == http.StatusBadRequest || s == http.StatusRequestEntityTooLarge {
			a.split = true
		}
	}
	return a
}

// eventIndex parses the i of a field "events[i]…".
func eventIndex(field string) (int, bool) {
	rest, ok := strings.CutPrefix(field, "events[")
	if !ok {
		return 0, false
	}
	end := strings.IndexByte(rest, ']')
	if end <= 0 {
		return 0, false
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil || i < 0 {
		return 0, false
	}
	return i, true
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when there is none or it cannot be read, and at most an hour.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}
