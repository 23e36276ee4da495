package logstore

import (
	"bytes"
	"context"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
)

// TestReplayOpensLastNote: recovery checks the signature of the last
// checkpoint note the WAL holds for a tenant (only that one: a WAL of
// single-event commits holds a note per commit). A forged last note
// quarantines the tenant; a forged note followed by a valid one does not
// (the valid one is what the rebuilt tree is compared with); a note whose
// body does not parse quarantines the tenant even when it is not last.
func TestReplayOpensLastNote(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notes  func(valid []byte) [][]byte
		broken string // substring of the quarantine reason; "" for none
	}{
		{"valid", func(v []byte) [][]byte { return [][]byte{v} }, ""},
		{"forged last", func(v []byte) [][]byte { return [][]byte{v, forge(v)} }, "checkpoint signature"},
		{"forged then valid", func(v []byte) [][]byte { return [][]byte{forge(v), v} }, ""},
		{"malformed then valid", func(v []byte) [][]byte { return [][]byte{[]byte("not a note"), v} }, "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer, verifier := internalKeys(t)
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, Signer: signer, Verifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var res *trail.AppendResult
			for i := range 3 {
				if res, err = s.Append(ctx, []*trail.Event{{Tenant: "acme", Action: "a.b", Actor: trail.Actor{ID: "u" + string(rune('0'+i))}}}); err != nil {
					t.Fatal(err)
				}
			}
			valid := res.Checkpoints["acme"].Note
			// Log the last commit's notes now, then the test's records,
			// as commits would (the writer is idle: no Append runs).
			s.commitMu.Lock()
			if err := s.writePendingNotes(); err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.notes(valid) {
				if _, err := s.wal.Append(encodeCommit(nil, []commitSection{{tenant: "acme", firstSeq: 3, note: n}})); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.wal.Sync(); err != nil {
				t.Fatal(err)
			}
			s.commitMu.Unlock()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = Open(Options{Dir: dir, Signer: signer, Verifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Read(ctx, "acme", 0, 10)
			switch {
			case tc.broken == "" && err != nil:
				t.Fatalf("tenant not served: %v", err)
			case tc.broken != "" && (err == nil || !strings.Contains(err.Error(), tc.broken)):
				t.Fatalf("Read: %v, want a quarantine naming %q", err, tc.broken)
			}
			if tc.broken == "" {
				cp, err := s.Checkpoint(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cp.Note, valid) {
					t.Fatalf("checkpoint after reopen: %q, want the last valid note", cp.Note)
				}
			}
		})
	}
}

// forge returns note with one character of its signature changed.
func forge(note []byte) []byte {
	f := bytes.Clone(note)
	i := bytes.LastIndexByte(f[:len(f)-1], ' ') + 5
	if f[i] == 'A' {
		f[i] = 'B'
	} else {
		f[i] = 'A'
	}
	return f
}
