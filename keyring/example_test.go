package keyring_test

import (
	"crypto/rand"
	"fmt"

	"github.com/trail-audit/trail/keyring"
)

func Example() {
	// Normally: keyring.ReadFile("/etc/trail/keys"), or Parse of an
	// environment variable, after Generate(crypto/rand.Reader, "k1").
	ring, err := keyring.Parse(`
# trail encryption keys: never reuse an id for other key bytes
k1 3q2+7w8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
k2 Ez4R0wSZ0nxe9ZgYq2wR8w6bC7X9fJm0eV8k5kq1n2s=
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := ring.NewSealer(rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	unit := s.Seal(nil, []byte("secret event"), []byte("wal 1 offset 0"))
	plain, err := ring.Open(nil, unit, []byte("wal 1 offset 0"))
	fmt.Println(keyring.KeyOf(unit), string(plain), err)
	_, err = ring.Open(nil, unit, []byte("wal 1 offset 64"))
	fmt.Println(err)
	// Output:
	// k2 secret event <nil>
	// cannot decrypt with key k2: wrong key or damaged data
}
