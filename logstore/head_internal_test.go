package logstore

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
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
		var a termArena
		for i := 0; i < len(pairs); i += 2 {
			a.append(pairs[i], pairs[i+1])
		}
		return termList(a.slab)
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
				got = h.lookup(tc.field, tc.key)
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
