package sink_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

func TestManager(t *testing.T) {
	st := openStore(t)
	secret := newSecret(t)
	rc := &receiver{t: t, secret: secret, tenant: "acme"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cursors := &sink.FileCursors{Dir: t.TempDir()}
	m := sink.NewManager(sink.ManagerOptions{Store: st, Cursors: cursors,
		Runner: sink.Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	defer m.Close()

	cfg := sink.Sink{ID: "m1", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: srv.URL, Secret: secret}
	if err := m.Start(sink.Sink{ID: "bad", Tenant: "acme", Name: "x", Type: sink.TypeWebhook, URL: "nope"}); trail.ErrorCode(err) != trail.EINVALID {
		t.Errorf("Start of a bad sink: %v, want EINVALID", err)
	}
	if err := m.Start(cfg); err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "acme", "doc.read", 0, 10)
	r, ok := m.Runner("m1")
	if !ok {
		t.Fatal("Runner(m1) not found")
	}
	waitFor(t, "delivery", 5*time.Second, func() bool { return r.Status().Cursor == 10 })

	// Restarting with a new filter resumes from the durable cursor.
	cfg.Filter = "metadata.n:12"
	if err := m.Start(cfg); err != nil {
		t.Fatal(err)
	}
	appendN(t, st, "acme", "doc.read", 10, 5)
	r, _ = m.Runner("m1")
	waitFor(t, "delivery after restart", 5*time.Second, func() bool { return r.Status().Cursor == 15 })
	checkStream(t, rc.snapshot(), append(seqRange(0, 10), 12))
	if got := m.IDs(); len(got) != 1 || got[0] != "m1" {
		t.Errorf("IDs = %v, want [m1]", got)
	}
	if err := m.Remove(context.Background(), "m1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cursors.Load(context.Background(), "m1"); ok {
		t.Error("cursor kept after Remove")
	}
	if err := m.Stop("m1"); trail.ErrorCode(err) != trail.ENOTFOUND {
		t.Errorf("Stop of a removed sink: %v, want ENOTFOUND", err)
	}
}
