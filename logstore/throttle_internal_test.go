package logstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore/vfs"
)

// TestHeadsBoundedWhileFlushIsSlow makes every block write slow, so that
// flushes lag behind ingest, and checks that commits wait for the running
// flush instead of letting the unflushed heads grow without bound.
func TestHeadsBoundedWhileFlushIsSlow(t *testing.T) {
	signer, verifier := internalKeys(t)
	faulty := vfs.NewFaulty(vfs.OS())
	faulty.Inject(vfs.Fault{Op: "sync", Path: "/blocks/", Delay: 30 * time.Millisecond})
	const headBytes = 32 << 10
	s, err := Open(Options{Dir: t.TempDir(), Signer: signer, Verifier: verifier, FS: faulty, HeadBytes: headBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	maxHead := int64(0)
	for b := 0; b < 60; b++ {
		batch := make([]*trail.Event, 100)
		for i := range batch {
			batch[i] = &trail.Event{Tenant: fmt.Sprintf("t%d", i%8), Action: "load.test", Actor: trail.Actor{ID: "u"},
				Reason: "padding to make events a few hundred bytes long, as real audit events are"}
		}
		if _, err := s.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		s.commitMu.Lock()
		maxHead = max(maxHead, s.headBytes)
		s.commitMu.Unlock()
	}
	// A commit may add its own batch past the limit before it waits.
	if limit := int64(headLimit*headBytes + 100*1024); maxHead > limit {
		t.Errorf("unflushed heads reached %d bytes, want at most %d while flushes lag", maxHead, limit)
	}
	if faulty.Hits() == 0 {
		t.Fatalf("no block sync was slowed: the test did not exercise a lagging flush")
	}
}

// internalKeys returns a deterministic checkpoint signer and verifier for
// the package's internal tests.
func internalKeys(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, verifier
}
