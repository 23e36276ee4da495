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
	terms []indexTerm // index entries, reused when the entry is written to a block
}

// headSeg is a run of a tenant's committed events, seq first..first+len-1,
// with an inverted index from (field, key) to offsets in entries. The
// writer appends; readers hold the tenant's read lock.
type headSeg struct {
	first   int64
	entries []headEntry
	index   map[string]map[string][]uint32
	ids     map[string]int64
	bytes   int64
	cp      *trail.Checkpoint // the checkpoint signed when this segment last grew
}

func newHeadSeg(first int64) *headSeg {
	return &headSeg{first: first, index: map[string]map[string][]uint32{}, ids: map[string]int64{}}
}

func (h *headSeg) end() int64 { return h.first + int64(len(h.entries)) }

// indexTerm is one (field, key) index entry of an event.
type indexTerm struct{ field, key string }

// termsOf returns the index entries of ev (see trail.IndexTerms).
func termsOf(ev *trail.Event) []indexTerm {
	terms := make([]indexTerm, 0, 48)
	trail.IndexTerms(ev, func(field, key string) { terms = append(terms, indexTerm{field, key}) })
	return terms
}

// add appends an entry and indexes it under terms (computed by termsOf,
// outside any lock, by the caller).
func (h *headSeg) add(e headEntry) {
	terms := e.terms
	off := uint32(len(h.entries))
	h.entries = append(h.entries, e)
	h.ids[e.ev.ID] = e.ev.Seq
	h.bytes += int64(len(e.leaf))
	for _, t := range terms {
		if !headIndexed(t.field) {
			continue
		}
		m := h.index[t.field]
		if m == nil {
			m = map[string][]uint32{}
			h.index[t.field] = m
		}
		p := m[t.key]
		if n := len(p); n > 0 && p[n-1] == off {
			continue
		}
		m[t.key] = append(p, off)
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
func (h *headSeg) lookup(field, key string) []uint32 { return h.index[field][key] }

// lookupPrefix returns the union of postings of keys with the prefix.
func (h *headSeg) lookupPrefix(field, prefix string) []uint32 {
	var out []uint32
	for k, p := range h.index[field] {
		if strings.HasPrefix(k, prefix) {
			out = block.Union(out, p)
		}
	}
	return out
}
