package logstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/merkle"
	"github.com/trail-audit/trail/storetest"
)

// tamperOptions are the options of the tamper tests' store: small chunks
// and small WAL segments, so that blocks hold many chunks and the events
// left in the WAL span several segments.
func tamperOptions(t testing.TB, dir string) logstore.Options {
	opts := storeOptions(t, dir, vfs.OS())
	opts.ChunkRows = 16
	opts.WALSegmentSize = 16 << 10
	return opts
}

// tamperFixture is a closed store directory with three tenants:
//
//	acme     blocks [0,400) and [400,460), then 100 events in the WAL
//	globex   blocks [0,300) and [300,360), nothing in the WAL
//	initech  blocks [0,300) and [300,340), then 100 events in the WAL
//
// and every record each tenant held when it was closed.
type tamperFixture struct {
	dir  string
	recs map[string][]trail.Record
}

var tamperTenants = []string{"acme", "globex", "initech"}

func newTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, tamperOptions(t, dir))
	defer s.Close()
	g := storetest.NewGen(3, 1)
	add := func(tenant string, n, per int) {
		t.Helper()
		for i := 0; i < n; i += per {
			batch := make([]*trail.Event, per)
			for j := range batch {
				batch[j] = g.Event(tenant, time.Time{})
			}
			if _, err := s.Append(ctx, batch); err != nil {
				t.Fatalf("Append(%s): %v", tenant, err)
			}
		}
	}
	flush := func() {
		t.Helper()
		if err := s.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	add("acme", 400, 50)
	add("globex", 300, 50)
	add("initech", 300, 50)
	flush()
	// Small second blocks: compaction leaves them alone (the first is
	// at least 4 times larger), so each tenant has two.
	add("acme", 60, 20)
	add("globex", 60, 20)
	flush()
	// This flush trims the WAL segments holding globex's events, so
	// only its blocks and checkpoints.log remain.
	add("initech", 40, 10)
	flush()
	add("acme", 100, 10)
	add("initech", 100, 10)
	f := &tamperFixture{dir: dir, recs: map[string][]trail.Record{}}
	for _, tn := range tamperTenants {
		f.recs[tn] = readAll(t, s, tn)
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify of the untouched store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, tn := range tamperTenants {
		want := 2
		if got := len(blockFilesOf(t, dir, tn)); got != want {
			t.Fatalf("fixture: %s has %d blocks, want %d", tn, got, want)
		}
	}
	if n := len(walSegments(t, dir)); n < 3 {
		t.Fatalf("fixture: %d WAL segments, want at least 3", n)
	}
	return f
}

// copyDir copies the fixture into a fresh directory.
func (f *tamperFixture) copy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.dir, path)
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
		t.Fatalf("copy fixture: %v", err)
	}
	return dst
}

// blockFile is one block file of a tenant.
type blockFile struct {
	rel         string // relative to the store directory
	first, rows int64
}

// blockFilesOf returns a tenant's block files in seq order.
func blockFilesOf(t *testing.T, dir, tenant string) []blockFile {
	t.Helper()
	bdir := filepath.Join("tenants", tenant, "blocks")
	des, err := os.ReadDir(filepath.Join(dir, bdir))
	if err != nil {
		t.Fatal(err)
	}
	var out []blockFile
	for _, de := range des {
		var b blockFile
		var gen int
		if _, err := fmt.Sscanf(de.Name(), "%016d-%010d-%06d.blk", &b.first, &b.rows, &gen); err != nil || !strings.HasSuffix(de.Name(), ".blk") {
			continue
		}
		b.rel = filepath.Join(bdir, de.Name())
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out
}

// walSegments returns the WAL segment files, oldest first.
func walSegments(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".wal") {
			out = append(out, filepath.Join("wal", de.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// dataRegion returns the byte range of a block file's chunks: after the
// 8-byte header, up to the index (whose offset opens the 40-byte footer).
func dataRegion(t *testing.T, path string) (start, end int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = logstore.SplitBlockFile(data)
	return 8, int64(binary.LittleEndian.Uint64(data[len(data)-40:]))
}

// modify applies fn to a file's contents.
func modify(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteBlock rewrites a block as a valid file whose rows are edit's
// result, as an attacker with write access and this package could.
func rewriteBlock(t *testing.T, path, tenant string, edit func(rows [][]byte) [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = logstore.SplitBlockFile(data)
	r, err := block.Open(path, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Meta()
	var rows [][]byte
	err = r.Scan(0, m.Rows, func(_ int, d []byte) error {
		rows = append(rows, append([]byte(nil), d...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := block.NewWriter(&out, tenant, m.FirstSeq, block.Options{ChunkRows: 16})
	for _, d := range edit(rows) {
		if err := w.Add(d, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// damage is what a tamper case must be reported as.
type damage struct {
	tenant string // "" for damage to the shared WAL
	file   string // TamperError.File (or the Open error) must contain it
	// seqLo ≤ TamperError.Seq < seqHi; seqHi 0 means any seq.
	seqLo, seqHi int64
	// openFails: the store must refuse to open.
	openFails bool
}

// TestTamper damages stored files in every way an attacker or a broken
// disk could and requires the store to notice: Open fails, or the tenant is
// quarantined (EUNAVAILABLE), or Verify returns a *trail.TamperError, which
// names the damaged tenant, the file and, for damage to one event, its seq.
// Untouched tenants are still served.
func TestTamper(t *testing.T) {
	f := newTamperFixture(t)
	blk := func(dir, tenant string, i int) blockFile { return blockFilesOf(t, dir, tenant)[i] }
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string) damage
	}{
		{"flip a byte in a block's chunks", func(t *testing.T, dir string) damage {
			b := blk(dir, "acme", 0)
			start, end := dataRegion(t, filepath.Join(dir, b.rel))
			modify(t, filepath.Join(dir, b.rel), func(d []byte) []byte { d[(start+end)/2] ^= 0x20; return d })
			return damage{tenant: "acme", file: b.rel, seqLo: b.first, seqHi: b.first + b.rows}
		}},
		{"overwrite bytes in a block", func(t *testing.T, dir string) damage {
			b := blk(dir, "initech", 0)
			start, _ := dataRegion(t, filepath.Join(dir, b.rel))
			modify(t, filepath.Join(dir, b.rel), func(d []byte) []byte {
				copy(d[start+100:], bytes.Repeat([]byte{0xAA}, 64))
				return d
			})
			return damage{tenant: "initech", file: b.rel, seqLo: b.first, seqHi: b.first + b.rows}
		}},
		{"truncate a block", func(t *testing.T, dir string) damage {
			b := blk(dir, "acme", 1)
			modify(t, filepath.Join(dir, b.rel), func(d []byte) []byte { return d[:len(d)/2] })
			return damage{tenant: "acme", file: b.rel, seqLo: b.first, seqHi: b.first + b.rows}
		}},
		{"break the trailer of a block's id table", func(t *testing.T, dir string) damage {
			b := blk(dir, "initech", 0)
			modify(t, filepath.Join(dir, b.rel), func(d []byte) []byte {
				binary.LittleEndian.PutUint64(d[len(d)-16:], uint64(len(d))) // a table longer than the file
				return d
			})
			return damage{tenant: "initech", file: b.rel, seqLo: b.first, seqHi: b.first + 1}
		}},
		{"delete the first block", func(t *testing.T, dir string) damage {
			b := blk(dir, "globex", 0)
			if err := os.Remove(filepath.Join(dir, b.rel)); err != nil {
				t.Fatal(err)
			}
			// A deleted file cannot be named; its directory and the
			// first missing seq can.
			return damage{tenant: "globex", file: filepath.Dir(b.rel), seqLo: b.first, seqHi: b.first + 1}
		}},
		{"delete the last block, events follow in the WAL", func(t *testing.T, dir string) damage {
			b := blk(dir, "acme", 1)
			if err := os.Remove(filepath.Join(dir, b.rel)); err != nil {
				t.Fatal(err)
			}
			return damage{tenant: "acme", file: filepath.Dir(b.rel), seqLo: b.first, seqHi: b.first + 1}
		}},
		{"delete the last block, nothing in the WAL", func(t *testing.T, dir string) damage {
			b := blk(dir, "globex", 1)
			if err := os.Remove(filepath.Join(dir, b.rel)); err != nil {
				t.Fatal(err)
			}
			return damage{tenant: "globex", file: filepath.Dir(b.rel), seqLo: b.first, seqHi: b.first + 1}
		}},
		{"swap two rows in a valid block", func(t *testing.T, dir string) damage {
			b := blk(dir, "acme", 0)
			rewriteBlock(t, filepath.Join(dir, b.rel), "acme", func(rows [][]byte) [][]byte {
				rows[37], rows[38] = rows[38], rows[37]
				return rows
			})
			return damage{tenant: "acme", file: b.rel, seqLo: b.first + 37, seqHi: b.first + 38}
		}},
		{"change a row in a valid block", func(t *testing.T, dir string) damage {
			b := blk(dir, "globex", 1)
			rewriteBlock(t, filepath.Join(dir, b.rel), "globex", func(rows [][]byte) [][]byte {
				rows[5] = bytes.Replace(rows[5], []byte(`"outcome":"`), []byte(`"outcome":"x`), 1)
				return rows
			})
			return damage{tenant: "globex", file: b.rel, seqLo: b.first + 5, seqHi: b.first + 6}
		}},
		{"flip a leaf hash in tile L0", func(t *testing.T, dir string) damage {
			rel := filepath.Join("tenants", "initech", "tiles", "L0")
			modify(t, filepath.Join(dir, rel), func(d []byte) []byte { d[7*32+3] ^= 0x01; return d })
			return damage{tenant: "initech", file: rel, seqLo: 7, seqHi: 8}
		}},
		{"flip a hash in tile L1", func(t *testing.T, dir string) damage {
			rel := filepath.Join("tenants", "acme", "tiles", "L1")
			modify(t, filepath.Join(dir, rel), func(d []byte) []byte { d[0] ^= 0x01; return d })
			// Open finds the root wrong but not which tile level.
			return damage{tenant: "acme", file: filepath.Dir(rel)}
		}},
		{"delete the tiles", func(t *testing.T, dir string) damage {
			rel := filepath.Join("tenants", "globex", "tiles")
			if err := os.RemoveAll(filepath.Join(dir, rel)); err != nil {
				t.Fatal(err)
			}
			return damage{tenant: "globex", file: rel}
		}},
		{"truncate checkpoints.log", func(t *testing.T, dir string) damage {
			rel := filepath.Join("tenants", "globex", "checkpoints.log")
			modify(t, filepath.Join(dir, rel), func(d []byte) []byte { return d[:len(d)-20] })
			return damage{tenant: "globex", file: rel}
		}},
		{"corrupt a signature in checkpoints.log", func(t *testing.T, dir string) damage {
			rel := filepath.Join("tenants", "acme", "checkpoints.log")
			modify(t, filepath.Join(dir, rel), func(d []byte) []byte {
				// The first note's signature line ends its record.
				n, k := binary.Uvarint(d)
				d[k+int(n)-10] ^= 0x01
				return d
			})
			return damage{tenant: "acme", file: rel}
		}},
		{"flip a byte in the middle of a WAL segment", func(t *testing.T, dir string) damage {
			segs := walSegments(t, dir)
			rel := segs[len(segs)/2]
			modify(t, filepath.Join(dir, rel), func(d []byte) []byte { d[len(d)/2] ^= 0x01; return d })
			return damage{file: filepath.Base(rel), openFails: true}
		}},
		{"delete a WAL segment", func(t *testing.T, dir string) damage {
			segs := walSegments(t, dir)
			rel := segs[len(segs)/2]
			if err := os.Remove(filepath.Join(dir, rel)); err != nil {
				t.Fatal(err)
			}
			return damage{file: filepath.Base(rel), openFails: true}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := f.copy(t)
			want := tc.tamper(t, dir)
			f.check(t, dir, want)
		})
	}
}

// check opens the damaged store and requires the damage to be reported as
// want says, and every other tenant to be served intact.
func (f *tamperFixture) check(t *testing.T, dir string, want damage) {
	t.Helper()
	ctx := context.Background()
	s, err := logstore.Open(tamperOptions(t, dir))
	if want.openFails {
		if err == nil {
			s.Close()
			t.Fatalf("Open: nil error, want the store refused")
		}
		if !strings.Contains(err.Error(), want.file) {
			t.Errorf("Open: %v, want it to name %s", err, want.file)
		}
		return
	}
	if err != nil {
		t.Fatalf("Open: %v, want the damage confined to tenant %s", err, want.tenant)
	}
	defer s.Close()

	// Quarantined at Open, or found by Verify.
	var te *trail.TamperError
	how := "Query"
	_, err = s.Query(ctx, &trail.Query{Tenant: want.tenant, Limit: 10})
	if err != nil {
		if got := trail.ErrorCode(err); got != trail.EUNAVAILABLE {
			t.Errorf("Query(%s): code %q (%v), want %q", want.tenant, got, err, trail.EUNAVAILABLE)
		}
	} else {
		how = "Verify"
		_, err = s.Verify(ctx)
	}
	if !errors.As(err, &te) {
		t.Fatalf("%s: %v, want a *trail.TamperError", how, err)
	}
	if te.Tenant != want.tenant {
		t.Errorf("%s: tenant %q (%v), want %q", how, te.Tenant, te, want.tenant)
	}
	if !strings.Contains(te.File, want.file) {
		t.Errorf("%s: file %q (%v), want it to name %s", how, te.File, te, want.file)
	}
	if want.seqHi > 0 && (te.Seq < want.seqLo || te.Seq >= want.seqHi) {
		t.Errorf("%s: seq %d (%v), want in [%d, %d)", how, te.Seq, te, want.seqLo, want.seqHi)
	}
	t.Logf("%s: %v", how, te)

	for _, tn := range tamperTenants {
		if tn == want.tenant {
			continue
		}
		got := readAll(t, s, tn)
		if len(got) != len(f.recs[tn]) {
			t.Errorf("untouched tenant %s: %d records, want %d", tn, len(got), len(f.recs[tn]))
			continue
		}
		for i, r := range got {
			if w := f.recs[tn][i]; r.Seq != w.Seq || r.LeafHash != w.LeafHash || !bytes.Equal(r.Data, w.Data) {
				t.Errorf("untouched tenant %s: record %d differs", tn, i)
				break
			}
		}
		if n := queryCount(t, s, tn); n != len(f.recs[tn]) {
			t.Errorf("untouched tenant %s: Query returned %d events, want %d", tn, n, len(f.recs[tn]))
		}
	}
}

// TestTamperedRowFailsItsProof: a row changed behind the store's back (a
// valid block rewritten) is returned by queries with the hash of what is
// stored, which the tree does not hold, so its inclusion proof fails where
// the untouched rows' proofs pass.
func TestTamperedRowFailsItsProof(t *testing.T) {
	f := newTamperFixture(t)
	dir := f.copy(t)
	b := blockFilesOf(t, dir, "globex")[1]
	rewriteBlock(t, filepath.Join(dir, b.rel), "globex", func(rows [][]byte) [][]byte {
		rows[5] = bytes.Replace(rows[5], []byte(`"outcome":"`), []byte(`"outcome":"x`), 1)
		return rows
	})
	s := mustOpen(t, tamperOptions(t, dir))
	defer s.Close()
	ctx := context.Background()
	cp, err := s.Checkpoint(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.Query(ctx, &trail.Query{Tenant: "globex", Limit: 1000, Order: trail.OrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, ev := range page.Events {
		if ev.Seq < b.first || ev.Seq >= b.first+b.rows {
			continue
		}
		p, err := s.InclusionProof(ctx, "globex", ev.Seq, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		hashes := make([]merkle.Hash, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i] = merkle.Hash(h)
		}
		verr := merkle.VerifyInclusion(merkle.Hash(*ev.LeafHash), ev.Seq, cp.Size, hashes, merkle.Hash(cp.Root))
		if tampered := ev.Seq == b.first+5; tampered != (verr != nil) {
			t.Errorf("seq %d (tampered %v): inclusion proof error %v", ev.Seq, tampered, verr)
		}
		checked++
	}
	if checked != int(b.rows) {
		t.Fatalf("checked %d rows of the block, want %d", checked, b.rows)
	}
}
