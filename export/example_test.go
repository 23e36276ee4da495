package export_test

import (
	"bytes"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/merkle"
)

// ExampleVerifyBundle builds a tenant's log of three events in memory,
// exports two of them as a bundle and verifies the bundle offline with the
// log's public key, as an auditor does with `trail verify --bundle`.
func ExampleVerifyBundle() {
	// The log: a Merkle tree of the events' leaves and a signed checkpoint.
	// (Use crypto/rand.Reader in real code; a fixed reader gives a fixed key.)
	skey, vkey, err := checkpoint.GenerateKey("trail.example.com", bytes.NewReader(make([]byte, 32)))
	if err != nil {
		panic(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	tree, err := merkle.Open(0, nil)
	if err != nil {
		panic(err)
	}
	received := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	var events []*trail.Event
	for i, action := range []string{"user.login", "route.update", "user.logout"} {
		e := &trail.Event{ID: fmt.Sprint("ev", i), Seq: int64(i), Tenant: "acme", ReceivedAt: received, Time: received,
			Action: action, Actor: trail.Actor{ID: "u_42"}, Outcome: "success", Severity: "info"}
		leaf, err := e.AppendCanonical(nil)
		if err != nil {
			panic(err)
		}
		if err := tree.Append(merkle.LeafHash(leaf)); err != nil {
			panic(err)
		}
		events = append(events, e)
	}
	c := checkpoint.Checkpoint{Origin: "trail.example.com/acme", Size: tree.Size(), Root: tree.Root()}
	msg, err := checkpoint.Sign(c, signer)
	if err != nil {
		panic(err)
	}
	cp := &trail.Checkpoint{Origin: c.Origin, Size: c.Size, Root: c.Root, Note: msg}

	// The export: events 1 and 2 with their inclusion proofs.
	proofs := func(seq int64) (*trail.InclusionProof, error) {
		hs, err := tree.InclusionProof(seq, cp.Size)
		if err != nil {
			return nil, err
		}
		p := &trail.InclusionProof{LeafIndex: seq, TreeSize: cp.Size}
		for _, h := range hs {
			p.Hashes = append(p.Hashes, trail.Hash(h))
		}
		return p, nil
	}
	var bundle bytes.Buffer
	b, err := export.NewBundle(&bundle, "acme", cp, vkey, proofs, "", received, "action:route.* OR action:user.logout")
	if err != nil {
		panic(err)
	}
	for _, e := range events[1:] {
		if err := b.Write(e); err != nil {
			panic(err)
		}
	}
	if err := b.Close(); err != nil {
		panic(err)
	}

	// The audit, offline, with the key obtained independently.
	rep, err := export.VerifyBundle(bytes.NewReader(bundle.Bytes()), int64(bundle.Len()), vkey)
	if err != nil {
		fmt.Println("bundle does not verify:", err)
		return
	}
	fmt.Printf("%s: %d events, seq %d to %d, proven in the tree of size %d; key trusted: %v\n",
		rep.Origin, rep.Events, rep.FirstSeq, rep.LastSeq, rep.TreeSize, rep.KeyTrusted)

	// A bundle checked against another key fails.
	_, otherKey, err := checkpoint.GenerateKey("trail.example.com", bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		panic(err)
	}
	_, err = export.VerifyBundle(bytes.NewReader(bundle.Bytes()), int64(bundle.Len()), otherKey)
	fmt.Println(err)
	// Output:
	// trail.example.com/acme: 2 events, seq 1 to 2, proven in the tree of size 3; key trusted: true
	// bundle: checkpoint: not validly signed by the trusted key: open checkpoint: checkpoint not signed by the expected key: want a signature by trail.example.com+1a27882b
}
