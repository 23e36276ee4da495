package export_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/merkle"
)

// testLog is a tenant's log held in memory: its events, a real Merkle tree
// of their leaves and a checkpoint of the whole tree signed with a fixed key.
type testLog struct {
	events []*trail.Event
	tree   *merkle.Tree
	cp     *trail.Checkpoint
	vkey   string // verifier key of the checkpoint's signer
}

var bundleTime = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// testKeys returns the fixed signer and verifier keys of seed.
func testKeys(t testing.TB, seed byte) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.example.com", bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// newTestLog builds tenant acme's log of n events; the events whose seq is
// in erased read back erased.
func newTestLog(t testing.TB, n int, erased ...int64) *testLog {
	t.Helper()
	tree, err := merkle.Open(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{tree: tree}
	leaves := make([]merkle.Hash, 0, n)
	for i := range n {
		e := &trail.Event{
			ID: fmt.Sprintf("ev-%06d", i), Seq: int64(i), Tenant: "acme",
			Time: t0.Add(time.Duration(i) * time.Second), ReceivedAt: t0.Add(time.Duration(i) * time.Second),
			Action: "user.login", Outcome: trail.OutcomeSuccess, Severity: trail.SeverityInfo,
			Actor:    trail.Actor{ID: fmt.Sprintf("u_%d", i%97), Name: "Ada", Type: trail.ActorUser},
			Source:   &trail.Source{IP: "203.0.113.7", UserAgent: "curl/8.0", Origin: "api"},
			Request:  &trail.Request{ID: fmt.Sprintf("req_%d", i), Method: "POST", Path: "/login", Status: 200},
			Metadata: map[string]any{"mfa": i%2 == 0, "attempt": float64(i % 5)},
		}
		h := leafHash(t, e)
		e.LeafHash = &h
		leaves = append(leaves, merkle.Hash(h))
		l.events = append(l.events, e)
	}
	for _, s := range erased {
		l.events[s] = erase(t, l.events[s])
	}
	if err := tree.Append(leaves...); err != nil {
		t.Fatal(err)
	}
	signer, vkey := testKeys(t, 1)
	c := checkpoint.Checkpoint{Origin: "trail.example.com/acme", Size: tree.Size(), Root: tree.Root()}
	msg, err := checkpoint.Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	l.cp = &trail.Checkpoint{Origin: c.Origin, Size: c.Size, Root: trail.Hash(c.Root), Note: msg}
	l.vkey = vkey
	return l
}

// proofs is the log's ProofSource for its checkpoint.
func (l *testLog) proofs(seq int64) (*trail.InclusionProof, error) {
	hs, err := l.tree.InclusionProof(seq, l.cp.Size)
	if err != nil {
		return nil, err
	}
	p := &trail.InclusionProof{LeafIndex: seq, TreeSize: l.cp.Size, Hashes: make([]trail.Hash, len(hs))}
	for i, h := range hs {
		p.Hashes[i] = trail.Hash(h)
	}
	return p, nil
}
