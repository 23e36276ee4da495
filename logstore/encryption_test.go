package logstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/storetest"
)

// distinctive is a string that appears in every event of these tests and
// nowhere else.
const distinctive = "zanzibarquokka7731"

// encOptions are the options of an encryption test store: a small head and
// small WAL segments, so that blocks, merges and WAL trimming happen.
func encOptions(t testing.TB, dir string, ring *keyring.Ring) logstore.Options {
	opts := storeOptions(t, dir, vfs.OS())
	opts.Encryption = ring
	opts.HeadBytes = 32 << 10
	opts.ChunkRows = 16
	opts.WALSegmentSize = 64 << 10
	return opts
}

// appendDistinctive appends n events to tenants "acme" and "globex", each
// carrying distinctive in its reason and metadata, with ids "<prefix>-<i>".
func appendDistinctive(t *testing.T, s trail.Store, prefix string, n int) {
	t.Helper()
	g := storetest.NewGen(uint64(len(prefix)), 2)
	for i := 0; i < n; i += 50 {
		var evs []*trail.Event
		for j := i; j < min(n, i+50); j++ {
			ev := g.Event([]string{"acme", "globex"}[j%2], time.Time{})
			ev.ID = fmt.Sprintf("%s-%d", prefix, j)
			ev.Reason = "refund approved for " + distinctive
			ev.Metadata = map[string]any{"note": distinctive}
			evs = append(evs, ev)
		}
		if _, err := s.Append(context.Background(), evs); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

// countAll returns how many events the tenants acme and globex hold, read
// and checked to carry distinctive.
func countAll(t *testing.T, s trail.Store) int {
	t.Helper()
	n := 0
	for _, tenant := range []string{"acme", "globex"} {
		for _, r := range readAll(t, s, tenant) {
			if !bytes.Contains(r.Data, []byte(distinctive)) {
				t.Fatalf("%s/%d: data %q lacks %s", tenant, r.Seq, r.Data, distinctive)
			}
			n++
		}
	}
	return n
}

// filesHolding returns the files under dir that contain s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fillStore writes events in blocks (flushed and merged) and in the WAL.
func fillStore(t *testing.T, opts logstore.Options) {
	t.Helper()
	s := mustOpen(t, opts)
	appendDistinctive(t, s, "a", 300)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	appendDistinctive(t, s, "b", 300)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	appendDistinctive(t, s, "c", 100) // left in the WAL
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEncryptionNoPlaintext checks that with encryption on, no file of the
// data directory holds a distinctive string of the events' content, while
// without it some file does (so the test can fail), and that every block
// and id table is encrypted.
func TestEncryptionNoPlaintext(t *testing.T) {
	for _, tc := range []struct {
		name string
		ring *keyring.Ring
	}{{"plaintext", nil}, {"encrypted", testRing(t, 0, "k1")}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := encOptions(t, dir, tc.ring)
			fillStore(t, opts)
			holding := filesHolding(t, dir, distinctive)
			if tc.ring == nil {
				if len(holding) == 0 {
					t.Fatalf("no file holds %q in a plaintext store: the test cannot fail", distinctive)
				}
				t.Logf("plaintext store: %s found in %v", distinctive, holding)
			} else if len(holding) > 0 {
				t.Errorf("encrypted store: %s found in %v", distinctive, holding)
			}
			blocks, _ := filepath.Glob(filepath.Join(dir, "tenants", "*", "blocks", "*.blk"))
			if len(blocks) == 0 {
				t.Fatal("no blocks written")
			}
			for _, path := range blocks {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				blk, ids := logstore.SplitBlockFile(data)
				_, err = block.Open(path, bytes.NewReader(blk), int64(len(blk)))
				if encrypted := errors.Is(err, block.ErrNoCipher); encrypted != (tc.ring != nil) {
					t.Errorf("%s: opened without a cipher: %v", path, err)
				}
				if ids == nil {
					t.Fatalf("%s: no id table", path)
				}
				if sealed := bytes.HasPrefix(ids, []byte("trailide")); sealed != (tc.ring != nil) {
					t.Errorf("%s.ids: sealed %v, want %v", path, sealed, tc.ring != nil)
				}
			}
			s := mustOpen(t, opts)
			defer s.Close()
			if got := countAll(t, s); got != 700 {
				t.Errorf("reopened store holds %d events, want 700", got)
			}
			if _, err := s.Verify(context.Background()); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// openErr opens a store that must fail and returns the error's text.
func openErr(t *testing.T, opts logstore.Options) string {
	t.Helper()
	s, err := logstore.Open(opts)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded, want an error", opts.Dir)
	}
	return err.Error()
}

func wantContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: got %q, want it to contain %q", what, got, w)
		}
	}
}

// TestEncryptionWrongKeys checks that a store refuses to open, with an
// error naming the key id and the file, without its keyring, with a
// keyring lacking its key, and with other bytes under its key's id.
func TestEncryptionWrongKeys(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, encOptions(t, dir, testRing(t, 0, "k1")))
	for _, tc := range []struct {
		name  string
		ring  *keyring.Ring
		setup func(t *testing.T, dir string) // on a copy of the store
		want  []string
	}{
		{"no keyring", nil, nil, []string{"is encrypted at rest", "ENCRYPTION", "k1", "open it with its keyring"}},
		{"missing key id", testRing(t, 0, "k2"), nil,
			[]string{"logstore: tenants/acme/blocks/", ".blk: encrypted with key id k1, which the keyring does not hold"}},
		{"missing key id, WAL only", testRing(t, 0, "k2"), removeTenants,
			[]string{"logstore: wal/", ".wal, record at offset", "encrypted with key id k1, which the keyring does not hold"}},
		{"wrong key bytes", testRing(t, 1, "k1"), nil,
			[]string{"logstore: ENCRYPTION: key k1 is not the key this data was encrypted with"}},
		{"wrong key bytes, no marker", testRing(t, 1, "k1"), removeMarker,
			[]string{"logstore: wal/", "cannot decrypt with key k1: wrong key or damaged data"}},
		{"no keyring, no marker", nil, removeMarker,
			[]string{"logstore: tenants/acme/blocks/", "encrypted, and no keyring was given"}},
		{"no keyring, no marker, WAL only", nil, func(t *testing.T, dir string) { removeMarker(t, dir); removeTenants(t, dir) },
			[]string{"logstore: replay wal: record encrypted with key id k1 and no keyring was given"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t, dir)
			if tc.setup != nil {
				tc.setup(t, d)
			}
			got := openErr(t, encOptions(t, d, tc.ring))
			t.Logf("%s", got)
			wantContains(t, "Open", got, tc.want...)
		})
	}
}

func removeWAL(t *testing.T, dir string) {
	if err := os.RemoveAll(filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
}

func removeTenants(t *testing.T, dir string) {
	if err := os.RemoveAll(filepath.Join(dir, "tenants")); err != nil {
		t.Fatal(err)
	}
}

func removeMarker(t *testing.T, dir string) {
	if err := os.Remove(filepath.Join(dir, "ENCRYPTION")); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies a data directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestEncryptionRotation writes with k1, adds k2 and writes more: new
// data uses k2, everything stays readable with both keys, a ring of k2
// alone is refused while data sealed with k1 remains, and flushes and
// merges seal what they rewrite under k2.
func TestEncryptionRotation(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, encOptions(t, dir, testRing(t, 0, "k1")))
	both := testRing(t, 0, "k1", "k2")
	s := mustOpen(t, encOptions(t, dir, both))
	appendDistinctive(t, s, "d", 50) // in the WAL, under k2
	if got := countAll(t, s); got != 750 {
		t.Errorf("after rotation: %d events, want 750", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, encOptions(t, dir, both))
	if got := countAll(t, s); got != 750 {
		t.Errorf("reopened with k1 and k2: %d events, want 750", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "Open with k2 alone", openErr(t, encOptions(t, dir, testRing(t, 0, "k2"))),
		"encrypted with key id k1, which the keyring does not hold")

	// A flush writes the WAL's events as blocks under k2 and merges them
	// with older blocks, sealing every chunk again under k2.
	s = mustOpen(t, encOptions(t, dir, both))
	appendDistinctive(t, s, "e", 300)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := countAll(t, s); got != 1050 {
		t.Errorf("after a flush under k2: %d events, want 1050", got)
	}
	if _, err := s.Verify(context.Background()); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	blocks, _ := filepath.Glob(filepath.Join(dir, "tenants", "*", "blocks", "*.blk"))
	for _, path := range blocks {
		data, _ := os.ReadFile(path)
		_, table := logstore.SplitBlockFile(data)
		keys[keyring.KeyOf(bytes.TrimPrefix(table, []byte("trailide")))]++
	}
	if keys["k2"] == 0 {
		t.Errorf("id tables by key: %v, want some sealed with k2", keys)
	}
	t.Logf("id tables by key after the flush: %v", keys)

	// The designated current key may be the older one again.
	text := strings.Join([]string{line(t, 0, "k1"), line(t, 0, "k2"), "current k1"}, "")
	back, err := keyring.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, encOptions(t, dir, back))
	appendDistinctive(t, s, "f", 10)
	if got := countAll(t, s); got != 1060 {
		t.Errorf("with k1 current again: %d events, want 1060", got)
	}
	s.Close()
}

// line is the key line of testRing for id.
func line(t *testing.T, seed byte, id string) string {
	l, err := keyring.Generate(bytes.NewReader(bytes.Repeat([]byte{seed + id[len(id)-1]}, 32)), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEncryptionMigration opens a plaintext store with a keyring: its
// plaintext data stays readable, new data is encrypted, and from then on
// it needs its keyring.
func TestEncryptionMigration(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, encOptions(t, dir, nil))
	ring := testRing(t, 0, "k1")
	s := mustOpen(t, encOptions(t, dir, ring))
	appendDistinctive(t, s, "d", 300)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := countAll(t, s); got != 1000 {
		t.Errorf("migrated store: %d events, want 1000", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, encOptions(t, dir, ring))
	if got := countAll(t, s); got != 1000 {
		t.Errorf("migrated store reopened: %d events, want 1000", got)
	}
	if _, err := s.Verify(context.Background()); err != nil {
		t.Errorf("Verify: %v", err)
	}
	s.Close()
	wantContains(t, "Open without the keyring", openErr(t, encOptions(t, dir, nil)), "is encrypted at rest")
}

// TestEncryptionPlaintextRefused checks that a plaintext WAL record
// planted in a store encrypted from its creation is refused.
func TestEncryptionPlaintextRefused(t *testing.T) {
	plain := t.TempDir()
	fillStore(t, encOptions(t, plain, nil))
	dir := t.TempDir()
	ring := testRing(t, 0, "k1")
	s := mustOpen(t, encOptions(t, dir, ring))
	s.Close()
	removeWAL(t, dir)
	if err := os.Rename(filepath.Join(plain, "wal"), filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "Open", openErr(t, encOptions(t, dir, ring)), "logstore: wal/", "plaintext data in a store encrypted from its creation")
}
