package logstore

import (
	"encoding/binary"
	"unsafe"

	trail "github.com/trail-audit/trail"
)

// termList is the index entries of one event (see trail.IndexTerms),
// encoded in one pointer-free byte slice. An event has about 35 entries;
// as a []struct{field, key string} they took 1.5 KB of memory the garbage
// collector had to scan, for every event of the head. Each entry is
//
//	uvarint(len(key)<<1 | newField) [uvarint(len(field)) field] key
//
// where the field is present (newField = 1) when it differs from the
// previous entry's. The bytes never change once written, so the strings
// that each returns may point into them.
type termList []byte

// termIter walks a termList.
type termIter struct {
	l          termList
	off        int
	field, key string
	newField   bool // field differs from the previous entry's
}

func (l termList) iter() termIter { return termIter{l: l} }

// next loads the next entry, reporting false at the end.
func (it *termIter) next() bool {
	if it.off >= len(it.l) {
		return false
	}
	h, n := binary.Uvarint(it.l[it.off:])
	it.off += n
	it.newField = h&1 != 0
	if it.newField {
		fl, n := binary.Uvarint(it.l[it.off:])
		it.off += n
		it.field = it.view(int(fl))
	}
	it.key = it.view(int(h >> 1))
	return true
}

// view returns the next n bytes as a string sharing the list's memory.
func (it *termIter) view(n int) string {
	if n == 0 {
		return ""
	}
	s := unsafe.String(&it.l[it.off], n)
	it.off += n
	return s
}

// termArena encodes the index entries of one Append call's events into a
// few shared slabs instead of one allocation per event.
type termArena struct {
	slab  []byte
	field string // of the last entry appended
	add   func(field, key string)
}

const (
	termSlabMax   = 256 << 10
	termsPerEvent = 384 // bytes; 319 on average for storetest.Gen events
	termMinRemain = 2 << 10
)

// of returns the index entries of ev; remaining is the number of events
// still to index, including ev. The result is never nil (see writeBlock).
func (a *termArena) of(ev *trail.Event, remaining int) termList {
	want := min(termSlabMax, remaining*termsPerEvent)
	if cap(a.slab)-len(a.slab) < min(want, termMinRemain) {
		a.slab = make([]byte, 0, want)
	}
	if a.add == nil {
		a.add = a.append
	}
	start := len(a.slab)
	a.field = ""
	trail.IndexTerms(ev, a.add)
	return termList(a.slab[start:len(a.slab):len(a.slab)])
}

func (a *termArena) append(field, key string) {
	if a.field == "" || field != a.field { // a.field is "" at an event's first entry

		a.slab = binary.AppendUvarint(a.slab, uint64(len(key))<<1|1)
		a.slab = binary.AppendUvarint(a.slab, uint64(len(field)))
		a.slab = append(a.slab, field...)
		a.field = field
	} else {
		a.slab = binary.AppendUvarint(a.slab, uint64(len(key))<<1)
	}
	a.slab = append(a.slab, key...)
}

// termsOf returns the index entries of ev in a list of its own.
func termsOf(ev *trail.Event) termList {
	var a termArena
	return a.of(ev, 1)
}
