package logstore

import (
	"encoding/json"
	"slices"
	"strings"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/block"
)

// headEntry is one committed event that is not yet in a block. It holds
// no decoded *trail.Event: only the canonical leaf and the index terms,
// both in pointer-free slabs, and a few scalars. Its two slices are the
// only pointers the garbage collector marks for it while it waits for a
// flush (a decoded event has dozens: strings, maps, time locations), so
// the head costs the collector little however many events it holds.
// Readers decode the leaf on demand (see view.headEvent).
type headEntry struct {
	leaf  []byte   // canonical leaf bytes; never modified once committed
	terms termList // index entries, reused when the entry is written to a block
	hash  trail.Hash
	time  int64  // the event's time, unix nanoseconds
	recv  int64  // its received_at, unix nanoseconds
	idh   uint64 // idHash of its id
}

// headSeg is a run of a tenant's committed events, seq first..first+len-1,
// with an inverted index from (field, key) to offsets in entries. The
// writer appends; readers hold the tenant's read lock.
type headSeg struct {
	first   int64
	entries entryPages
	index   map[string]map[string]int32 // field → key → posting (see add)
	lists   []postList                  // postings of keys with several entries
	nodes   []postNode                  // their offsets in entries, linked in ascending order
	ids     map[uint64]int32            // idHash of an id → offset in entries (see seqOf)
	idsMore map[string]int32            // ids whose hash was already in ids; usually nil
	sigs    []termSig                   // per entry: the signature of its unindexed terms
	bytes   int64
	cp      *trail.Checkpoint // the checkpoint signed when this segment last grew
	sizes   *headSizes        // of the segment before, for the first add; then nil
}

// entryPages is a growing sequence of head entries kept in pages of
// headPage entries: appending never copies the entries before it (a slice
// would at each doubling, and entries hold pointers, so each copy is
// cleared and scanned too). Only the first page grows by doubling, up to
// headPage, so that a small tenant's head stays small.
//
// Entries never change once appended. A snapshot taken under the
// tenant's lock therefore stays valid while the writer appends: it copies
// the page headers (the writer rewrites the last one's length, and the
// first one's array when it doubles), and the writer only fills capacity
// beyond the snapshot's length, or adds pages.
type entryPages struct {
	pages [][]headEntry
	n     int
}

const (
	headPageShift = 9
	headPage      = 1 << headPageShift
)

func (p *entryPages) len() int { return p.n }

// at returns entry i, which must be below len.
func (p *entryPages) at(i int) *headEntry {
	return &p.pages[i>>headPageShift][i&(headPage-1)]
}

// reserve sizes the first page for n entries (at most headPage); call it
// before the first append.
func (p *entryPages) reserve(n int) {
	if n > 0 {
		p.pages = [][]headEntry{make([]headEntry, 0, min(n, headPage))}
	}
}

func (p *entryPages) append(e headEntry) {
	last := len(p.pages) - 1
	switch {
	case last < 0:
		p.pages = [][]headEntry{make([]headEntry, 0, 8)}
		last = 0
	case len(p.pages[last]) == headPage:
		p.pages = append(p.pages, make([]headEntry, 0, headPage))
		last++
	}
	// Only the first page can be full below headPage: it then doubles.
	p.pages[last] = append(p.pages[last], e)
	p.n++
}

// snapshot returns a copy of p that later appends to p leave unchanged;
// call it under the lock that guards appends.
func (p *entryPages) snapshot() entryPages {
	return entryPages{pages: slices.Clone(p.pages), n: p.n}
}

// headSizes are the sizes of a head segment's slices and maps, with which
// the next segment allocates them.
type headSizes struct {
	entries, lists, nodes int
	keys                  map[string]int // per field
}

// postList is the posting of a key with several entries: a list of
// nodes, linked from first to last in ascending order of offset. The
// lists of a segment share one pointer-free slice of nodes, which grows by
// amortised appends instead of a slice per key.
type postList struct {
	first, last int32 // indexes in nodes
	n           int32 // nodes in the list
}

// postNode is one offset of a postList; next is the index of the next
// node, -1 at the end.
type postNode struct {
	off  uint32
	next int32
}

// newHeadSeg returns an empty segment starting at seq first that will be
// sized like prev, the segment it follows (nil for none): as many entries,
// ids and keys per field, so that a tenant's steady ingest does not grow
// and rehash the same maps again in every segment. It only records the
// sizes: the first add allocates, outside the flush that freezes every
// head at once while commits wait.
func newHeadSeg(first int64, prev *headSeg) *headSeg {
	h := &headSeg{first: first, index: map[string]map[string]int32{}, ids: map[uint64]int32{}}
	if prev != nil && prev.entries.len() > 0 {
		sz := &headSizes{entries: prev.entries.len(), lists: len(prev.lists), nodes: len(prev.nodes), keys: make(map[string]int, len(prev.index))}
		for field, keys := range prev.index {
			sz.keys[field] = len(keys)
		}
		h.sizes = sz
	}
	return h
}

// allocate sizes the segment's slices and maps, before its first entry.
func (h *headSeg) allocate() {
	sz := h.sizes
	h.sizes = nil
	h.entries.reserve(sz.entries)
	h.sigs = make([]termSig, 0, sz.entries)
	h.ids = make(map[uint64]int32, sz.entries)
	h.lists = make([]postList, 0, sz.lists)
	h.nodes = make([]postNode, 0, sz.nodes)
	for field, n := range sz.keys {
		h.index[field] = make(map[string]int32, n)
	}
}

func (h *headSeg) end() int64 { return h.first + int64(h.entries.len()) }

// add appends an entry of the event with the given id and indexes it under
// its terms (computed outside any lock, by the caller). The id must not be
// in the segment already.
//
// A key's posting in index is -1-off while the key has one entry, at
// offset off (request ids, most resource ids and addresses), and the index
// of its postList in lists from the second entry on.
func (h *headSeg) add(e headEntry, id string) {
	if h.sizes != nil {
		h.allocate()
	}
	terms := e.terms
	off := uint32(h.entries.len())
	h.entries.append(e)
	if _, taken := h.ids[e.idh]; !taken {
		h.ids[e.idh] = int32(off)
	} else { // another id with the same 64-bit hash: never seen in practice
		if h.idsMore == nil {
			h.idsMore = map[string]int32{}
		}
		h.idsMore[id] = int32(off)
	}
	h.bytes += int64(len(e.leaf))
	var sig termSig
	var fieldHash uint64   // sigField of the entry's field
	var m map[string]int32 // of the entry's field; nil: not indexed in the head
	for it := terms.iter(); it.next(); {
		if it.newField {
			m = nil
			if headIndexed(it.field) {
				if m = h.index[it.field]; m == nil {
					m = map[string]int32{}
					h.index[it.field] = m
				}
			} else {
				fieldHash = sigField(it.field)
			}
		}
		if m == nil {
			sig.add(fieldHash, it.key)
			continue
		}
		// The key may point into terms, which never change and live as
		// long as the segment.
		i, ok := m[it.key]
		switch {
		case !ok:
			m[it.key] = -1 - int32(off)
		case i >= 0:
			if l := &h.lists[i]; h.nodes[l.last].off != off {
				n := int32(len(h.nodes))
				h.nodes = append(h.nodes, postNode{off: off, next: -1})
				h.nodes[l.last].next = n
				l.last = n
				l.n++
			}
		case uint32(-1-i) != off:
			m[it.key] = int32(len(h.lists))
			n := int32(len(h.nodes))
			h.nodes = append(h.nodes, postNode{off: uint32(-1 - i), next: n + 1}, postNode{off: off, next: -1})
			h.lists = append(h.lists, postList{first: n, last: n + 1, n: 2})
		}
	}
	h.sigs = append(h.sigs, sig)
}

// seqOf returns the seq of the event with the given id, whose idHash is
// idh, in the segment.
// The id table is keyed by the id's 64-bit hash, which holds no pointer
// for the garbage collector to mark; a hit is confirmed against the id in
// the entry's leaf, so a collision never reports another event. It
// happens for duplicates only, which are rare, so decoding the leaf's id
// there costs less than keeping every id as a string.
func (h *headSeg) seqOf(id string, idh uint64) (int64, bool) {
	if off, ok := h.idsMore[id]; ok {
		return h.first + int64(off), true
	}
	off, ok := h.ids[idh]
	if !ok || leafID(h.entries.at(int(off)).leaf) != id {
		return 0, false
	}
	return h.first + int64(off), true
}

// leafID returns the id in a canonical leaf ("" if it has none or does
// not decode).
func leafID(leaf []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(leaf, &v) != nil {
		return ""
	}
	return v.ID
}

// headIndexed reports whether the head indexes a field. Free-text words
// and metadata, the bulk of an event's index terms, are not indexed in the
// head: maintaining their postings at ingest would cost more than the
// head's short life repays. Each entry keeps a signature of them instead
// (termSig), which an exact lookup scans.
func headIndexed(field string) bool {
	return field != trail.FieldText && !strings.HasPrefix(field, trail.MetadataPrefix)
}

// lookup returns the sorted offsets of entries indexed under (field, key)
// among the first n: exactly those when the head indexes field, else a
// superset (see termSig).
func (h *headSeg) lookup(field, key string, n int) []uint32 {
	if !headIndexed(field) {
		return h.mayHold(field, key, n)
	}
	i, ok := h.index[field][key]
	if !ok {
		return nil
	}
	return h.posting(i)
}

// count is the size of lookup(field, key) for a field the head indexes,
// and for another the number of entries (its signatures answer it).
func (h *headSeg) count(field, key string) int {
	if !headIndexed(field) {
		return h.entries.len()
	}
	i, ok := h.index[field][key]
	switch {
	case !ok:
		return 0
	case i < 0:
		return 1
	}
	return int(h.lists[i].n)
}

// posting returns the offsets of a posting of index (see add), sorted, in
// a new slice.
func (h *headSeg) posting(i int32) []uint32 {
	if i < 0 {
		return []uint32{uint32(-1 - i)}
	}
	return h.appendPosting(make([]uint32, 0, h.lists[i].n), i)
}

// appendPosting appends the offsets of a posting of index (see add),
// sorted, to dst.
func (h *headSeg) appendPosting(dst []uint32, i int32) []uint32 {
	if i < 0 {
		return append(dst, uint32(-1-i))
	}
	for n := h.lists[i].first; n >= 0; n = h.nodes[n].next {
		dst = append(dst, h.nodes[n].off)
	}
	return dst
}

// postings calls fn with every (field, key) of the fields the head
// indexes (headIndexed) and its sorted offsets, in no particular order,
// and stops at fn's first error, which it returns. offs is only valid
// during the call. The segment must no longer grow (a frozen one).
func (h *headSeg) postings(fn func(field, key string, offs []uint32) error) error {
	var offs []uint32
	for field, keys := range h.index {
		for key, i := range keys {
			offs = h.appendPosting(offs[:0], i)
			if err := fn(field, key, offs); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupPrefix returns the union of postings of keys with the prefix.
func (h *headSeg) lookupPrefix(field, prefix string) []uint32 {
	var out []uint32
	for k, i := range h.index[field] {
		if strings.HasPrefix(k, prefix) {
			out = block.Union(out, h.posting(i))
		}
	}
	return out
}

// mayHold returns the sorted offsets, among the first n entries, whose
// signature holds (field, key): every entry with that index entry and a
// few percent of the others.
func (h *headSeg) mayHold(field, key string, n int) []uint32 {
	var want termSig
	want.add(sigField(field), key)
	var out []uint32
	for i, s := range h.sigs[:n] {
		if s.holds(&want) {
			out = append(out, uint32(i))
		}
	}
	return out
}

// termSig is a Bloom filter of the index entries of one head entry in the
// fields the head does not index (free-text words and metadata): 256
// bits, three set per entry. An exact lookup of such an entry skips every
// head entry whose signature lacks one of its bits, which cannot hold it,
// without reading its leaf. Generated events set about 66 of the 256
// bits, and TestHeadSignatures measures about 2.5% of the entries without
// a term kept for the row filter (it allows at most 5%).
type termSig [4]uint64

// sigField returns the hash state after field, from which add hashes a
// key: FNV-1a 64 over the field's bytes and a 0 byte.
func sigField(field string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(field); i++ {
		h = (h ^ uint64(field[i])) * 1099511628211
	}
	return h * 1099511628211 // ^ 0
}

// add sets the bits of (field, key), where fieldHash is sigField(field).
func (s *termSig) add(fieldHash uint64, key string) {
	h := fieldHash
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	// The top bits: FNV's low bits depend on the low bits of the input
	// bytes only.
	for shift := 56; shift >= 40; shift -= 8 {
		b := uint8(h >> shift)
		s[b>>6] |= 1 << (b & 63)
	}
}

// holds reports whether every bit of want is set in s.
func (s *termSig) holds(want *termSig) bool {
	return s[0]&want[0] == want[0] && s[1]&want[1] == want[1] &&
		s[2]&want[2] == want[2] && s[3]&want[3] == want[3]
}
