package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/logstore/block"
)

// TestHeadIDCollision checks the head's id table, which is keyed by the
// ids' 64-bit hashes: two ids with the same hash are both found, and an id
// whose hash matches another's entry is not reported as that entry.
func TestHeadIDCollision(t *testing.T) {
	leaf := func(id string) []byte { return []byte(`{"action":"a","id":"` + id + `","seq":0}`) }
	h := newHeadSeg(10, nil)
	// "b" is given the hash of "a", as if the two collided.
	h.add(headEntry{leaf: leaf("a"), idh: idHash("a")}, "a")
	h.add(headEntry{leaf: leaf("b"), idh: idHash("a")}, "b")
	for _, tc := range []struct {
		id   string
		want int64
		ok   bool
	}{
		{"a", 10, true},
		{"b", 11, true},
		{"c", 0, false},
	} {
		got, ok := h.seqOf(tc.id, idHash(tc.id))
		if got != tc.want || ok != tc.ok {
			t.Errorf("seqOf(%q) = %d, %v; want %d, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}

	// An entry found by hash whose leaf holds another id is not a match.
	h = newHeadSeg(0, nil)
	h.add(headEntry{leaf: leaf("b"), idh: idHash("a")}, "b")
	if seq, ok := h.seqOf("a", idHash("a")); ok {
		t.Errorf("seqOf(a) = %d, true; want not found (the entry is b's)", seq)
	}
}

// TestHeadPostings checks the head's postings, kept as linked lists in one
// slice: each key's offsets come back sorted and once per entry, whether
// the key has one entry or several, and prefixes union them.
func TestHeadPostings(t *testing.T) {
	terms := func(pairs ...string) termList {
		var l []byte
		last := ""
		for i := 0; i < len(pairs); i += 2 {
			l = appendTerm(l, last, pairs[i], pairs[i+1])
			last = pairs[i]
		}
		return termList(l)
	}
	h := newHeadSeg(0, nil)
	rows := []termList{
		terms("action", "a", "actor.id", "u1"),
		terms("action", "b", "actor.id", "u1"),
		terms("action", "a", "actor.id", "u2"),
		terms("action", "a", "action", "a", "actor.id", "u1"), // a key twice in one entry
	}
	for i, tl := range rows {
		id := string(rune('p' + i))
		h.add(headEntry{terms: tl, idh: idHash(id)}, id)
	}
	for _, tc := range []struct {
		name       string
		field, key string
		prefix     bool
		want       []uint32
	}{
		{"several entries", "action", "a", false, []uint32{0, 2, 3}},
		{"one entry", "action", "b", false, []uint32{1}},
		{"several, repeated in an entry", "actor.id", "u1", false, []uint32{0, 1, 3}},
		{"absent key", "action", "c", false, nil},
		{"absent field", "outcome", "success", false, nil},
		{"prefix", "actor.id", "u", true, []uint32{0, 1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint32
			if tc.prefix {
				got = h.lookupPrefix(tc.field, tc.key)
			} else {
				got = h.lookup(tc.field, tc.key, len(rows))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEntryPages checks the head's paged entries across page boundaries,
// with and without a reserved first page, and that a snapshot keeps its
// length and entries while appends continue.
func TestEntryPages(t *testing.T) {
	for _, reserve := range []int{0, 3, headPage, 5 * headPage} {
		t.Run(fmt.Sprint("reserve ", reserve), func(t *testing.T) {
			var p entryPages
			p.reserve(reserve)
			const n = 2*headPage + 17
			var snap entryPages
			for i := range n {
				if i == headPage+5 {
					snap = p.snapshot()
				}
				p.append(headEntry{time: int64(i)})
			}
			if p.len() != n {
				t.Fatalf("len = %d, want %d", p.len(), n)
			}
			for i := range n {
				if got := p.at(i).time; got != int64(i) {
					t.Fatalf("at(%d) = %d", i, got)
				}
			}
			if snap.len() != headPage+5 {
				t.Fatalf("snapshot len = %d, want %d", snap.len(), headPage+5)
			}
			for i := range snap.len() {
				if got := snap.at(i).time; got != int64(i) {
					t.Fatalf("snapshot at(%d) = %d", i, got)
				}
			}
		})
	}
}

// TestIDHashIsFNV64a: id tables on disk hold hash/fnv's FNV-64a of each
// id; the inlined idHash must give the same value.
func TestIDHashIsFNV64a(t *testing.T) {
	for _, id := range []string{"", "a", "01J9Z8K3Q4", "evt_ünïcode", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"} {
		h := fnv.New64a()
		h.Write([]byte(id))
		if got, want := idHash(id), h.Sum64(); got != want {
			t.Errorf("idHash(%q) = %x, hash/fnv gives %x", id, got, want)
		}
	}
}

// TestHeadSignatures checks the lookups of the fields the head does not
// index, which scan the entries' signatures: over generated events, every
// entry holding a free-text word or metadata value is returned (among the
// first n only), and few others are.
func TestHeadSignatures(t *testing.T) {
	g := gen.New(5, 1)
	tenant := g.Tenant()
	h := newHeadSeg(0, nil)
	holds := map[[2]string][]uint32{} // (field, key) → offsets holding it
	const n = 4000
	for i := range n {
		ev := g.Event(tenant, time.Unix(1_700_000_000+int64(i), 0))
		tl := termsOf(ev)
		for it := tl.iter(); it.next(); {
			if headIndexed(it.field) {
				continue
			}
			k := [2]string{it.field, it.key}
			if l := holds[k]; len(l) == 0 || l[len(l)-1] != uint32(i) {
				holds[k] = append(l, uint32(i))
			}
		}
		h.add(headEntry{terms: tl, idh: idHash(ev.ID)}, ev.ID)
	}
	if len(holds) < 50 {
		t.Fatalf("only %d distinct unindexed terms generated", len(holds))
	}
	var kept, others int
	for k, want := range holds {
		got := h.lookup(k[0], k[1], n)
		if !isSuperset(got, want) {
			t.Fatalf("lookup(%q, %q) = %d offsets, missing some of the %d holding it", k[0], k[1], len(got), len(want))
		}
		kept += len(got) - len(want)
		others += n - len(want)
		// Only the first n/2 entries: none past them.
		if half := h.lookup(k[0], k[1], n/2); len(half) > 0 && half[len(half)-1] >= n/2 {
			t.Fatalf("lookup(%q, %q) among %d entries returned offset %d", k[0], k[1], n/2, half[len(half)-1])
		}
	}
	if rate := float64(kept) / float64(others); rate > 0.05 {
		t.Errorf("signatures kept %.1f%% of the entries without the term, want at most 5%%", 100*rate)
	} else {
		t.Logf("signatures kept %.2f%% of the entries without the term", 100*rate)
	}
	if got := h.lookup(trail.FieldText, "nosuchwordanywhere", n); len(got) > n/20 {
		t.Errorf("an absent word kept %d of %d entries", len(got), n)
	}
}

// isSuperset reports whether the sorted list a holds every element of the
// sorted list b.
func isSuperset(a, b []uint32) bool {
	return len(b) == 0 || len(block.Intersect(a, b)) == len(b)
}

// TestWriteBlockFromHeadPostings checks that a block written from a frozen
// head segment, its head-indexed fields taken from the segment's postings,
// is the file written from every row's terms: same bytes, and the same
// answers to every Lookup and to a scan.
func TestWriteBlockFromHeadPostings(t *testing.T) {
	signer, verifier := internalKeys(t)
	s, err := Open(Options{Dir: t.TempDir(), Signer: signer, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := gen.New(11, 1)
	tenant := g.Tenant()
	if _, err := s.Append(context.Background(), []*trail.Event{g.Event(tenant, time.Now())}); err != nil {
		t.Fatal(err)
	}
	tn, err := s.tenantByName(tenant)
	if err != nil {
		t.Fatal(err)
	}
	const first, n = 1000, 3000
	h := newHeadSeg(first, nil)
	for i := range n {
		ev := g.Event(tenant, time.Unix(1_700_000_000+int64(i), 0))
		leaf, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		h.add(headEntry{leaf: leaf, terms: termsOf(ev), time: ev.Time.UnixNano(), recv: ev.ReceivedAt.UnixNano(), idh: idHash(ev.ID)}, ev.ID)
	}
	row := func(i int) blockRow { return headRow(h.entries.at(i)) }
	byRows, err := writeBlockNow(s, tn, first, 0, n, row, nil)
	if err != nil {
		t.Fatalf("write block row by row: %v", err)
	}
	defer byRows.close()
	fromHead, err := writeBlockNow(s, tn, first, 1, n, row, h)
	if err != nil {
		t.Fatalf("write block from head postings: %v", err)
	}
	defer fromHead.close()
	want, err := os.ReadFile(byRows.path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(fromHead.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("block from head postings: %d bytes, differ from the %d written row by row", len(got), len(want))
	}
	fields := byRows.r.Fields()
	if !slices.Equal(fromHead.r.Fields(), fields) {
		t.Fatalf("fields: got %v, want %v", fromHead.r.Fields(), fields)
	}
	lookups := 0
	for _, f := range fields {
		byRows.r.Keys(f, func(k string) bool {
			lookups++
			if got, want := fromHead.r.Lookup(f, k), byRows.r.Lookup(f, k); !slices.Equal(got, want) {
				t.Fatalf("Lookup(%s, %q): got %v, want %v", f, k, got, want)
			}
			return true
		})
	}
	var rowsGot, rowsWant [][]byte
	for _, c := range []struct {
		b   *blockRef
		out *[][]byte
	}{{fromHead, &rowsGot}, {byRows, &rowsWant}} {
		if err := c.b.r.Scan(0, n, func(_ int, data []byte) error {
			*c.out = append(*c.out, bytes.Clone(data))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.EqualFunc(rowsGot, rowsWant, bytes.Equal) {
		t.Error("scan: rows differ")
	}
	t.Logf("%d fields, %d keys looked up", len(fields), lookups)
}

// writeBlockNow writes a block and makes it durable and visible at once.
func writeBlockNow(s *Store, t *tenant, first int64, gen, n int, row func(i int) blockRow, seg *headSeg) (*blockRef, error) {
	b := s.perFileBatch()
	if err := b.mkdirs(t.dir, "blocks"); err != nil {
		return nil, err
	}
	p, err := s.writeBlock(b, t, first, gen, n, row, seg)
	if err != nil {
		return nil, err
	}
	return s.installAlone(b, p)
}

// BenchmarkOpenWrittenBlock opens a block just written, as a flush
// does, either reading it and its id table back from the files or from
// the bytes and ids in hand (block.OpenWritten).
func BenchmarkOpenWrittenBlock(b *testing.B) {
	signer, verifier := internalKeys(b)
	s, err := Open(Options{Dir: b.TempDir(), Signer: signer, Verifier: verifier})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g := gen.New(11, 1)
	tenant := g.Tenant()
	if _, err := s.Append(context.Background(), []*trail.Event{g.Event(tenant, time.Now())}); err != nil {
		b.Fatal(err)
	}
	tn, err := s.tenantByName(tenant)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{30, 300, 3000} {
		h := newHeadSeg(1000, nil)
		for i := range n {
			ev := g.Event(tenant, time.Unix(1_700_000_000+int64(i), 0))
			leaf, err := json.Marshal(ev)
			if err != nil {
				b.Fatal(err)
			}
			h.add(headEntry{leaf: leaf, terms: termsOf(ev), time: ev.Time.UnixNano(), recv: ev.ReceivedAt.UnixNano(), idh: idHash(ev.ID)}, ev.ID)
		}
		ref, err := writeBlockNow(s, tn, 1000, n, n, func(i int) blockRow { return headRow(h.entries.at(i)) }, h)
		if err != nil {
			b.Fatal(err)
		}
		data, err := os.ReadFile(ref.path)
		if err != nil {
			b.Fatal(err)
		}
		w := &writtenBlock{data: data, ids: ref.ids, minRecv: ref.minRecv, maxRecv: ref.maxRecv}
		ref.close()
		for _, mode := range []string{"read back", "written"} {
			b.Run(fmt.Sprintf("rows=%d/%s", n, mode), func(b *testing.B) {
				for b.Loop() {
					var x *blockRef
					if mode == "written" {
						x, err = s.openBlockFile(ref.path, 1000, n, n, w)
					} else {
						x, err = s.openBlock(ref.path, 1000, n, n)
					}
					if err != nil {
						b.Fatal(err)
					}
					x.close()
				}
			})
		}
	}
}
