package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail/checkpoint"
)

// Example signs a checkpoint with a new key and opens it with the public
// verifier key, as a client checking a receipt does.
func Example() {
	// Use crypto/rand.Reader in real code; a fixed reader gives a fixed key.
	skey, vkey, err := checkpoint.GenerateKey("trail.example.com", bytes.NewReader(make([]byte, 32)))
	if err != nil {
		panic(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	msg, err := checkpoint.Sign(checkpoint.Checkpoint{
		Origin: "trail.example.com/acme",
		Size:   3,
		Root:   sha256.Sum256([]byte("root")),
	}, signer)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s", msg)

	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	c, err := checkpoint.Open(msg, verifier)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Origin, c.Size)
	// Output:
	// trail.example.com/acme
	// 3
	// SBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=
	//
	// — trail.example.com LIKDW/O2tXw/QdgU3P3rcJTsOlgNufCC7hRw5+IGGmBxG0j7QubzVgIu1woyn06BPNcrK1X6SDocS4cc1tgdQ6M6vg0=
	// trail.example.com/acme 3
}
