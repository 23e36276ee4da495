package adapter_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares events, as indented JSON, with testdata/name, or
// rewrites the file with -update.
func golden(t *testing.T, name string, events []*trail.Event) {
	t.Helper()
	got, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mapped events differ from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

// valid checks that every event passes trail's own validation, as the
// store will run it.
func valid(t *testing.T, events []*trail.Event) {
	t.Helper()
	for i, e := range events {
		c := *e
		c.Normalize(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), func() string { return "x" })
		if err := c.Validate(trail.DefaultLimits); err != nil {
			t.Errorf("event %d (%s): %v", i, e.Action, err)
		}
		leaf, err := c.AppendCanonical(nil)
		if err != nil {
			t.Errorf("event %d: canonical: %v", i, err)
			continue
		}
		if err := trail.CheckSize(leaf, trail.DefaultLimits); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
}

// fieldOf returns the Field of err's *trail.Error, or fails.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	te, ok := err.(*trail.Error)
	if !ok || te.Code != trail.EINVALID {
		t.Fatalf("error %v (%T), want an EINVALID *trail.Error", err, err)
	}
	return te.Field
}
