package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Webhook delivers batches as Standard Webhooks (standardwebhooks.com)
// POSTs. The body is
//
//	{"type":"events","tenant":"acme","data":[<event>,…]}
//
// and fired alerts (trail.alert.fired events) as {"type":"alert",…}
//
// where each event is its stored canonical JSON (with id and seq). The
// headers are
//
//	webhook-id:        Batch.ID, <sink id>_<first seq>-<last seq>[_r<n>] (the same on every retry)
//	webhook-timestamp: <Unix seconds>
//	webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
//
// keyed with the base64-decoded part of the whsec_ secret. A 2xx answer
// acknowledges the batch; anything else is retried.
type Webhook struct {
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns the Webhook destination of a normalised webhook sink.
func NewWebhook(s *Sink, env Env) (*Webhook, error) {
	key, err := secretKey(s.Secret)
	if err != nil {
		return nil, err
	}
	c, err := httpClient(s, env)
	if err != nil {
		return nil, err
	}
	return &Webhook{url: s.URL, key: key, client: c, now: env.now()}, nil
}

// Deliver implements Destination.
//
// Alerts (trail.alert.fired events) go in a message of their own with type
// "alert" (webhook-id suffixed "_alert"), after the batch's other events
// (type "events"); both must be acknowledged.
func (w *Webhook) Deliver(ctx context.Context, batch *Batch) error {
	var events, alerts []Item
	for _, it := range batch.Items {
		if it.Event != nil && it.Event.Action == AlertAction {
			alerts = append(alerts, it)
		} else {
			events = append(events, it)
		}
	}
	if len(events) > 0 || len(alerts) == 0 {
		if err := w.send(ctx, "events", batch.Tenant, batch.ID, events); err != nil {
			return err
		}
	}
	if len(alerts) > 0 {
		return w.send(ctx, "alert", batch.Tenant, batch.ID+"_alert", alerts)
	}
	return nil
}

// AlertAction is the action of the events that record fired alerts.
const AlertAction = "trail.alert.fired"

// send posts one signed message.
func (w *Webhook) send(ctx context.Context, typ, tenant, id string, items []Item) error {
	body := appendEnvelope(nil, typ, tenant, items)
	ts := strconv.FormatInt(w.now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "trail-sink/1")
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+Sign(w.key, id, ts, body))
	_, err := post(ctx, w.client, w.url, h, body)
	return err
}

// Close implements Destination.
func (w *Webhook) Close() error { w.client.CloseIdleConnections(); return nil }

// Sign returns the Standard Webhooks v1 signature (without the "v1,"
// prefix): the standard base64 of HMAC-SHA256(key, id + "." + timestamp +
// "." + body).
func Sign(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// appendEnvelope appends {"type":typ,"tenant":tenant,"data":[leaves…]}.
func appendEnvelope(dst []byte, typ, tenant string, items []Item) []byte {
	var b bytes.Buffer
	b.Write(dst)
	b.WriteString(`{"type":`)
	writeJSONString(&b, typ)
	b.WriteString(`,"tenant":`)
	writeJSONString(&b, tenant)
	b.WriteString(`,"data":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it.Leaf)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}
