package logstore

import (
	"strings"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/block"
)

// headEntry is one committed event that is not yet in a block.
type headEntry struct {
	ev    *trail.Event // decoded, with Seq and LeafHash set; read-only once published
	leaf  []byte       // canonical leaf bytes
	hash  trail.Hash
	terms termList // index entries, reused when the entry is written to a block
}

// headSeg is a run of a tenant's committed events, seq first..first+len-1,
// with an inverted index from (field, key) to offsets in entries. The
// writer appends; readers hold the tenant's read lock.
type headSeg struct {
	first   int64
	entries []headEntry
	index   map[string]map[string]int32 // field → key → posting (see add)
	posts   [][]uint32                  // sorted offsets in entries
	ids     map[string]int64
	bytes   int64
	cp      *trail.Checkpoint // the checkpoint signed when this segment last grew
	sizes   *headSizes        // of the segment before, for the first add; then nil
}

// headSizes are the sizes of a head segment's slices and maps, with which
// the next segment allocates them.
type headSizes struct {
	entries, posts int
	keys           map[string]int // per field
}

// newHeadSeg returns an empty segment starting at seq first that will be
// sized like prev, the segment it follows (nil for none): as many entries,
// ids and keys per field, so that a tenant's steady ingest does not grow
// and rehash the same maps again in every segment. It only records the
// sizes: the first add allocates, outside the flush that freezes every
// head at once while commits wait.
func newHeadSeg(first int64, prev *headSeg) *headSeg {
	h := &headSeg{first: first, index: map[string]map[string]int32{}, ids: map[string]int64{}}
	if prev != nil && len(prev.entries) > 0 {
		sz := &headSizes{entries: len(prev.entries), posts: len(prev.posts), keys: make(map[string]int, len(prev.index))}
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
	h.entries = make([]headEntry, 0, sz.entries)
	h.ids = make(map[string]int64, sz.entries)
	h.posts = make([][]uint32, 0, sz.posts)
	for field, n := range sz.keys {
		h.index[field] = make(map[string]int32, n)
	}
}

func (h *headSeg) end() int64 { return h.first + int64(len(h.entries)) }

// add appends an entry and indexes it under its terms (computed outside
// any lock, by the caller).
//
// A key's posting in index is -1-off while the key has one entry, at
// offset off (request ids, most resource ids and addresses), and the index
// of its offsets in posts from the second entry on.
func (h *headSeg) add(e headEntry) {
	if h.sizes != nil {
		h.allocate()
	}
	terms := e.terms
	off := uint32(len(h.entries))
	h.entries = append(h.entries, e)
	h.ids[e.ev.ID] = e.ev.Seq
	h.bytes += int64(len(e.leaf))
	var m map[string]int32 // of the entry's field; nil: not indexed in the head
	for it := terms.iter(); it.next(); {
		if it.newField {
			m = nil
			if headIndexed(it.field) {
				if m = h.index[it.field]; m == nil {
					m = map[string]int32{}
					h.index[it.field] = m
				}
			}
		}
		if m == nil {
			continue
		}
		// The key may point into terms, which never change and live as
		// long as the segment.
		i, ok := m[it.key]
		switch {
		case !ok:
			m[it.key] = -1 - int32(off)
		case i >= 0:
			if p := h.posts[i]; p[len(p)-1] != off {
				h.posts[i] = append(p, off)
			}
		case uint32(-1-i) != off:
			m[it.key] = int32(len(h.posts))
			h.posts = append(h.posts, []uint32{uint32(-1 - i), off})
		}
	}
}

// headIndexed reports whether the head indexes a field. Free-text words
// and metadata, the bulk of an event's index terms, are not indexed in the
// head: queries on them scan the head's decoded events, which is cheaper
// than maintaining their postings at ingest for the head's short life.
func headIndexed(field string) bool {
	return field != trail.FieldText && !strings.HasPrefix(field, trail.MetadataPrefix)
}

// lookup returns the sorted offsets of entries indexed under (field, key).
func (h *headSeg) lookup(field, key string) []uint32 {
	i, ok := h.index[field][key]
	if !ok {
		return nil
	}
	return h.posting(i)
}

// posting returns the offsets of a posting of index (see add).
func (h *headSeg) posting(i int32) []uint32 {
	if i < 0 {
		return []uint32{uint32(-1 - i)}
	}
	return h.posts[i]
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
