package block

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/trail-audit/trail/keyring"
)

// placeCipher seals for one file: it prefixes every unit's additional
// data with the file's place, as the store's cipher does.
type placeCipher struct {
	s     *keyring.Sealer
	place string
}

func (c placeCipher) Seal(dst, plaintext, aad []byte) []byte {
	return c.s.Seal(dst, plaintext, append([]byte(c.place), aad...))
}

func (c placeCipher) Open(dst, sealed, aad []byte) ([]byte, error) {
	return c.s.Open(dst, sealed, append([]byte(c.place), aad...))
}

func testCipher(t testing.TB, id, place string) placeCipher {
	t.Helper()
	r, err := keyring.Parse(id + " " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{id[len(id)-1]}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewSealer(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return placeCipher{s, place}
}

func openWith(t testing.TB, b []byte, opts Options) *Reader {
	t.Helper()
	r, err := OpenWith("enc", bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

// TestEncrypted checks that an encrypted block answers as a plaintext one,
// that it needs its cipher, and that its units do not open elsewhere.
func TestEncrypted(t *testing.T) {
	rows := smallRows(300)
	a := Options{ChunkRows: 64, Cipher: testCipher(t, "k1", "a")}
	b, _ := writeRows(t, rows, 1000, a)
	r := openWith(t, b, a)
	if !r.Encrypted() {
		t.Errorf("Encrypted() = false")
	}
	checkBlock(t, r, rows, 1000)
	plain := openBytes(t, "plain", must(writeRows(t, rows, 1000, Options{ChunkRows: 64})))
	if plain.Encrypted() {
		t.Errorf("plaintext block: Encrypted() = true")
	}
	for i := range rows {
		if rows[i].erased {
			continue
		}
		if bytes.Contains(b, rows[i].data[:min(len(rows[i].data), 24)]) {
			t.Fatalf("row %d's data is in the file", i)
		}
	}
	if _, err := Open("enc", bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNoCipher) {
		t.Errorf("Open without a cipher: got %v, want ErrNoCipher", err)
	}
	var de *keyring.DecryptError
	if _, err := OpenWith("enc", bytes.NewReader(b), int64(len(b)), Options{Cipher: testCipher(t, "k1", "b")}); !errors.As(err, &de) {
		t.Errorf("Open as another file: got %v, want a DecryptError", err)
	}
	var uk *keyring.UnknownKeyError
	if _, err := OpenWith("enc", bytes.NewReader(b), int64(len(b)), Options{Cipher: testCipher(t, "k2", "a")}); !errors.As(err, &uk) || uk.ID != "k1" {
		t.Errorf("Open without the key: got %v, want an UnknownKeyError for k1", err)
	}
	// A chunk sealed for another place: seal chunk 0 again for place "b"
	// and fix nothing else: the CRC in the (authenticated) index no longer
	// matches, and were it forged the chunk would not open.
	c := r.chunks[0]
	comp, err := r.chunkBytes(0, new([]byte), new([]byte))
	if err != nil {
		t.Fatal(err)
	}
	aad := ChunkAAD(0)
	other := testCipher(t, "k1", "b").Seal(nil, comp, aad[:])
	if len(other) != c.compLen {
		t.Fatalf("resealed chunk has %d bytes, want %d", len(other), c.compLen)
	}
	moved := bytes.Clone(b)
	copy(moved[c.off:], other)
	if _, err := openWith(t, moved, a).Row(0); err == nil {
		t.Errorf("Row of a chunk sealed for another file: got nil error")
	}
	if _, err := a.Cipher.Open(nil, other, aad[:]); !errors.As(err, &de) {
		t.Errorf("chunk sealed for another file opens: %v", err)
	}
}

// TestMergeEncrypted merges plaintext and encrypted blocks, with and
// without erasures, into an encrypted block under another key, and an
// encrypted block into a plaintext one.
func TestMergeEncrypted(t *testing.T) {
	rows := smallRows(400)
	k1 := Options{ChunkRows: 32, Cipher: testCipher(t, "k1", "src")}
	srcs := []*Reader{
		openWith(t, must(writeRows(t, rows[:100], 0, Options{ChunkRows: 32})), Options{}),
		openWith(t, must(writeRows(t, rows[100:250], 100, k1)), k1),
		openWith(t, must(writeRows(t, rows[250:], 250, k1)), k1),
	}
	out := Options{Cipher: testCipher(t, "k2", "merged")}
	for _, tc := range []struct {
		name  string
		erase func(int64) bool
		out   Options
	}{
		{"encrypted", nil, out},
		{"encrypted, erasing", func(seq int64) bool { return seq%7 == 0 }, out},
		{"plaintext", nil, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := Merge(&buf, srcs, tc.erase, tc.out); err != nil {
				t.Fatal(err)
			}
			m := openWith(t, buf.Bytes(), tc.out)
			if m.Encrypted() != (tc.out.Cipher != nil) {
				t.Errorf("Encrypted() = %v", m.Encrypted())
			}
			want := rows
			if tc.erase != nil {
				want = append([]row(nil), rows...)
				for i := range want {
					if tc.erase(int64(i)) {
						want[i] = row{time: want[i].time, erased: true}
					}
				}
				if err := m.Verify(); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					data, err := m.Row(i)
					if err != nil || !bytes.Equal(data, want[i].data) {
						t.Fatalf("row %d: %q, %v; want %q", i, data, err, want[i].data)
					}
				}
				return
			}
			checkBlock(t, m, want, 0)
		})
	}
}
