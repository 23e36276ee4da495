package logstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/storetest"
)

// keyPair returns a deterministic signer and verifier.
func keyPair() (note.Signer, note.Verifier, error) {
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		return nil, nil, err
	}
	s, err := checkpoint.NewSigner(skey) // batch signing, as trail serve's key file gives
	if err != nil {
		return nil, nil, err
	}
	v, err := note.NewVerifier(vkey)
	return s, v, err
}

// testKey is keyPair for tests.
func testKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	s, v, err := keyPair()
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// harness runs the conformance suite against logstore.
type harness struct {
	mu    sync.Mutex
	dirs  map[trail.Store]string
	nows  map[trail.Store]func() time.Time
	cur   map[string]*logstore.Store // the open store of each directory
	small bool                       // tiny head so that blocks, flushes and compaction happen
	ring  *keyring.Ring              // encryption at rest, when not nil
}

func newHarness(small bool) *harness {
	return &harness{dirs: map[trail.Store]string{}, nows: map[trail.Store]func() time.Time{}, cur: map[string]*logstore.Store{}, small: small}
}

// testRing returns a ring of the given key ids, each key's bytes derived
// from its id and seed, the last id current.
func testRing(t testing.TB, seed byte, ids ...string) *keyring.Ring {
	t.Helper()
	var text string
	for _, id := range ids {
		l, err := keyring.Generate(bytes.NewReader(bytes.Repeat([]byte{seed + id[len(id)-1]}, 32)), id)
		if err != nil {
			t.Fatal(err)
		}
		text += l
	}
	r, err := keyring.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *harness) open(t *testing.T, dir string, now func() time.Time) *logstore.Store {
	t.Helper()
	signer, verifier := testKey(t)
	opts := logstore.Options{Dir: dir, Signer: signer, Verifier: verifier, ServerName: "trail.test", Now: now, Encryption: h.ring}
	if h.small {
		opts.HeadBytes = 64 << 10
		opts.SmallHeadBytes = 8 << 10 // background flushes leave small heads
		opts.ChunkRows = 16
	}
	s, err := logstore.Open(opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	h.mu.Lock()
	h.dirs[s] = dir
	h.nows[s] = now
	h.cur[dir] = s
	h.mu.Unlock()
	return s
}

func (h *harness) New(t *testing.T, o storetest.Options) trail.Store {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	dir := t.TempDir()
	s := h.open(t, dir, now)
	// Reopened stores outlive the sub-test that reopened them: close
	// whichever store is current when the test that created it ends.
	t.Cleanup(func() {
		h.mu.Lock()
		cur := h.cur[dir]
		h.mu.Unlock()
		cur.Close()
	})
	return s
}

func (h *harness) Reopen(t *testing.T, s trail.Store) trail.Store {
	h.mu.Lock()
	dir, now := h.dirs[s], h.nows[s]
	h.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return h.open(t, dir, now)
}

// Tamper rewrites the block holding (tenant, seq) with that row's content
// changed, as an attacker with write access to the files could.
func (h *harness) Tamper(t *testing.T, s trail.Store, tenant string, seq int64) trail.Store {
	h.mu.Lock()
	dir, now := h.dirs[s], h.nows[s]
	h.mu.Unlock()
	if err := s.(*logstore.Store).Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := tamperRow(dir, tenant, seq, h.ring); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	signer, verifier := testKey(t)
	ns, err := logstore.Open(logstore.Options{Dir: dir, Signer: signer, Verifier: verifier, ServerName: "trail.test", Now: now, Encryption: h.ring})
	if err != nil {
		return nil
	}
	h.mu.Lock()
	h.dirs[ns], h.nows[ns], h.cur[dir] = dir, now, ns
	h.mu.Unlock()
	return ns
}

// tamperRow rewrites one row of the block holding seq, replacing "success"
// by "failure" (or changing the first letter of the action). With a ring,
// it decrypts and re-encrypts the block as an attacker holding the key
// could.
func tamperRow(dir, tenant string, seq int64, ring *keyring.Ring) error {
	bdir := filepath.Join(dir, "tenants", tenant, "blocks")
	des, err := os.ReadDir(bdir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".blk") {
			continue
		}
		path := filepath.Join(bdir, de.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var opts block.Options
		if ring != nil {
			opts.Cipher = logstore.BlockCipher(ring, dir, path)
		}
		data, _ = logstore.SplitBlockFile(data)
		r, err := block.OpenWith(path, bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			return err
		}
		m := r.Meta()
		if seq < m.FirstSeq || seq >= m.FirstSeq+int64(m.Rows) {
			continue
		}
		var out bytes.Buffer
		w := block.NewWriter(&out, tenant, m.FirstSeq, opts)
		err = r.Scan(0, m.Rows, func(row int, d []byte) error {
			d = append([]byte(nil), d...)
			if m.FirstSeq+int64(row) == seq {
				i := bytes.Index(d, []byte(`"action":"`))
				d[i+10] ^= 0x01
			}
			return w.Add(d, 0, nil)
		})
		if err != nil {
			return err
		}
		if _, err := w.Close(); err != nil {
			return err
		}
		return os.WriteFile(path, out.Bytes(), 0o644)
	}
	return os.ErrNotExist
}

func (h *harness) Verifier() note.Verifier {
	_, v, err := keyPair()
	if err != nil {
		panic(err) // deterministic key generation cannot fail
	}
	return v
}

func (h *harness) Origin(tenant string) string { return "trail.test/" + tenant }

func TestConformance(t *testing.T) {
	storetest.Run(t, newHarness(false))
}

// TestConformanceSmallHead runs the suite with a tiny head so that most
// events are read from blocks written by flushes and merged by compaction.
func TestConformanceSmallHead(t *testing.T) {
	storetest.Run(t, newHarness(true))
}

// TestConformanceEncrypted runs the suite with encryption at rest and a
// tiny head, so that encrypted WAL records, blocks, merges and rewrites
// are all exercised.
func TestConformanceEncrypted(t *testing.T) {
	h := newHarness(true)
	h.ring = testRing(t, 0, "k1")
	storetest.Run(t, h)
}
