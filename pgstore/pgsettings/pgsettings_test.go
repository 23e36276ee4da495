package pgsettings_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgsettings"
	"github.com/trail-audit/trail/pgstore/pgtest"
	"github.com/trail-audit/trail/pgstore/pgwatch"
	"github.com/trail-audit/trail/settings"
)

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestTwoNodes changes settings through one registry and expects the other
// node's registry to follow through the notification.
func TestTwoNodes(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Migrate(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())

	var regs [2]*settings.Registry
	listening := make(chan struct{}, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 2)
	for i := range regs {
		st := pgsettings.New(pool(t, dsn), nil)
		r, err := settings.New(t.Context(), st, nil)
		if err != nil {
			t.Fatal(err)
		}
		regs[i] = r
		first := true
		go func() {
			st.Watch(ctx, r, pgwatch.Options{OnReload: func(error) {
				if first {
					first = false
					listening <- struct{}{}
				}
			}})
			done <- struct{}{}
		}()
	}
	<-listening
	<-listening
	want := trail.Settings{RetentionDays: 7, LegalHold: true, Masking: trail.MaskingSettings{Defaults: false,
		Rules: []trail.MaskRule{{Detector: "email", Action: trail.MaskHMAC}}}}
	if _, err := regs[0].Put(t.Context(), "acme", want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := regs[1].Get("acme")
		if got.RetentionDays == 7 && got.LegalHold && len(got.Masking.Rules) == 1 && got.Masking.Rules[0] == want.Masking.Rules[0] && !got.Masking.Defaults {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 still sees %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
}
