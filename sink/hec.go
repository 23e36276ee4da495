package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// HECPath is the Splunk HTTP Event Collector endpoint for JSON events.
const HECPath = "/services/collector/event"

// HEC delivers batches to a Splunk HTTP Event Collector: one POST to
// <url>/services/collector/event (unless the URL already ends with it)
// with "Authorization: Splunk <token>" and a body of concatenated event
// objects, one per line:
//
//	{"time":1767225600.123,"host":"trail","source":"trail","sourcetype":"trail:audit","index":"…","fields":{"tenant":"acme","seq":42},"event":<event JSON>}
//
// time is the event time in seconds with milliseconds; index is present
// when the sink sets one. A 2xx answer acknowledges the batch, unless its
// JSON body carries a non-zero "code". HEC indexer acknowledgement
// (channels) is not used.
type HEC struct {
	url    string
	token  string
	index  string
	client *http.Client
}

// NewHEC returns the HEC destination of a normalised splunk_hec sink.
func NewHEC(s *Sink, env Env) (*HEC, error) {
	c, err := httpClient(s, env)
	if err != nil {
		return nil, err
	}
	u := strings.TrimSuffix(s.URL, "/")
	if !strings.HasSuffix(u, HECPath) {
		u += HECPath
	}
	return &HEC{url: u, token: s.Token, index: s.Index, client: c}, nil
}

// Deliver implements Destination.
func (h *HEC) Deliver(ctx context.Context, batch *Batch) error {
	tenant, items := batch.Tenant, batch.Items
	var b []byte
	tq, _ := json.Marshal(tenant)
	iq, _ := json.Marshal(h.index)
	for _, it := range items {
		t := it.Event.Time
		if t.IsZero() {
			t = it.Event.ReceivedAt
		}
		b = append(b, `{"time":`...)
		b = strconv.AppendFloat(b, float64(t.UnixMilli())/1000, 'f', 3, 64)
		b = append(b, `,"host":"trail","source":"trail","sourcetype":"trail:audit"`...)
		if h.index != "" {
			b = append(b, `,"index":`...)
			b = append(b, iq...)
		}
		b = append(b, `,"fields":{"tenant":`...)
		b = append(b, tq...)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, it.Seq, 10)
		b = append(b, `},"event":`...)
		b = append(b, it.Leaf...)
		b = append(b, "}\n"...)
	}
	hd := http.Header{}
	hd.Set("Authorization", "Splunk "+h.token)
	hd.Set("Content-Type", "application/json")
	resp, err := post(ctx, h.client, h.url, hd, b)
	if err != nil {
		return err
	}
	var ack struct {
		Text string `json:"text"`
		Code *int   `json:"code"`
	}
	if json.Unmarshal(resp, &ack) == nil && ack.Code != nil && *ack.Code != 0 {
		return fmt.Errorf("hec: code %d: %s", *ack.Code, ack.Text)
	}
	return nil
}

// Close implements Destination.
func (h *HEC) Close() error { h.client.CloseIdleConnections(); return nil }
