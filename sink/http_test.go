package sink_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail/sink"
)

// collector records the bodies of requests whose check passes.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
	errs   []string
	check  func(r *http.Request, body []byte) string // "" accepts
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg := c.check(r, body); msg != "" {
		c.errs = append(c.errs, msg)
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	c.bodies = append(c.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"text":"Success","code":0}`)
}

func (c *collector) get(t *testing.T) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Fatalf("receiver rejected a request: %s", c.errs[0])
	}
	return c.bodies
}

func TestSplunkHEC(t *testing.T) {
	st := openStore(t)
	c := &collector{check: func(r *http.Request, body []byte) string {
		switch {
		case r.URL.Path != "/services/collector/event":
			return "path " + r.URL.Path
		case r.Header.Get("Authorization") != "Splunk tok-123":
			return "authorization " + r.Header.Get("Authorization")
		}
		return ""
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	appendN(t, st, "acme", "doc.read", 0, 10)
	cfg := sink.Sink{ID: "hec", Tenant: "acme", Name: "splunk", Type: sink.TypeSplunkHEC, URL: srv.URL + "/", Token: "tok-123", Index: "audit", BatchSize: 4}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	waitFor(t, "delivery", 5*time.Second, func() bool { return r.Status().Cursor == 10 })
	bodies := c.get(t)
	if len(bodies) != 3 {
		t.Errorf("got %d requests, want 3 batches of at most 4", len(bodies))
	}
	var seq int64
	for _, b := range bodies {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var ev struct {
				Time       *float64       `json:"time"`
				Host       string         `json:"host"`
				Source     string         `json:"source"`
				Sourcetype string         `json:"sourcetype"`
				Index      string         `json:"index"`
				Fields     map[string]any `json:"fields"`
				Event      struct {
					ID     string `json:"id"`
					Seq    int64  `json:"seq"`
					Action string `json:"action"`
				} `json:"event"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("HEC line %q: %v", sc.Text(), err)
			}
			if ev.Time == nil || *ev.Time < 1e9 || ev.Sourcetype != "trail:audit" || ev.Index != "audit" ||
				ev.Fields["tenant"] != "acme" || ev.Event.ID == "" || ev.Event.Seq != seq || ev.Event.Action != "doc.read" {
				t.Errorf("HEC event %s: unexpected shape", sc.Text())
			}
			seq++
		}
	}
	if seq != 10 {
		t.Errorf("got %d HEC events, want 10", seq)
	}
}

func TestSplunkHECErrorCode(t *testing.T) {
	st := openStore(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"text":"Invalid token","code":4}`)
	}))
	defer srv.Close()
	appendN(t, st, "acme", "doc.read", 0, 1)
	cfg := sink.Sink{ID: "hec", Tenant: "acme", Name: "splunk", Type: sink.TypeSplunkHEC, URL: srv.URL, Token: "t"}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	waitFor(t, "retrying", 5*time.Second, func() bool { return r.Status().State == sink.StateRetrying })
	if s := r.Status(); s.Cursor != 0 || s.LastError == "" {
		t.Errorf("status %+v: want the batch unacknowledged", s)
	}
}

func TestOCSFHTTP(t *testing.T) {
	st := openStore(t)
	c := &collector{check: func(r *http.Request, body []byte) string {
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer ot" {
			return "headers"
		}
		return ""
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	appendN(t, st, "acme", "doc.create", 0, 1)
	appendN(t, st, "acme", "user.login", 1, 1)
	appendN(t, st, "acme", "user.logout", 2, 1)
	appendN(t, st, "acme", "user.password.change", 3, 1)
	appendN(t, st, "acme", "account.delete", 4, 1)
	appendN(t, st, "acme", "invoice.export", 5, 1)
	cfg := sink.Sink{ID: "ocsf", Tenant: "acme", Name: "lake", Type: sink.TypeOCSFHTTP, URL: srv.URL, Token: "ot", OCSFVersion: "1.1.0"}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	waitFor(t, "delivery", 5*time.Second, func() bool { return r.Status().Cursor == 6 })
	var got []map[string]any
	for _, b := range c.get(t) {
		var batch []map[string]any
		if err := json.Unmarshal(b, &batch); err != nil {
			t.Fatalf("OCSF body %s: %v", b, err)
		}
		got = append(got, batch...)
	}
	want := []struct{ class, activity, category float64 }{
		{6003, 1, 6}, {3002, 1, 3}, {3002, 2, 3}, {3001, 3, 3}, {3001, 6, 3}, {6003, 2, 6},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d OCSF events, want %d", len(got), len(want))
	}
	for i, w := range want {
		o := got[i]
		if o["class_uid"] != w.class || o["activity_id"] != w.activity || o["category_uid"] != w.category || o["type_uid"] != w.class*100+w.activity {
			t.Errorf("event %d: class %v activity %v category %v type %v, want %v %v %v", i, o["class_uid"], o["activity_id"], o["category_uid"], o["type_uid"], w.class, w.activity, w.category)
		}
		md, _ := o["metadata"].(map[string]any)
		if md["version"] != "1.1.0" || md["uid"] == "" || md["sequence"] != float64(i) || md["tenant_uid"] != "acme" {
			t.Errorf("event %d: metadata %v", i, md)
		}
		if o["status_id"] != 1.0 || o["severity_id"] != 1.0 || o["time"] == nil {
			t.Errorf("event %d: status %v severity %v time %v", i, o["status_id"], o["severity_id"], o["time"])
		}
		actor, _ := o["actor"].(map[string]any)
		if user, _ := actor["user"].(map[string]any); user["uid"] == nil || user["email_addr"] != "ann@example.com" {
			t.Errorf("event %d: actor %v", i, actor)
		}
		switch w.class {
		case 6003:
			if api, _ := o["api"].(map[string]any); api["operation"] == nil {
				t.Errorf("event %d: API Activity without api.operation: %v", i, o)
			}
		default:
			if o["user"] == nil {
				t.Errorf("event %d: class %v without user", i, w.class)
			}
		}
	}
}
