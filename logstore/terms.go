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
//	uvarint(len(key)<<1 | newField) [uvarint(code) [field]] key
//
// where the field is present (newField = 1) when it differs from the
// previous entry's. A code below termFieldCodes names one of the fields
// of termField, whose names are not stored; any other field is stored
// after code = termFieldCodes + len(field). The bytes never change once
// written, so the strings that each returns may point into them.
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
		code, n := binary.Uvarint(it.l[it.off:])
		it.off += n
		if code < termFieldCodes {
			it.field = termField(code)
		} else {
			it.field = it.view(int(code - termFieldCodes))
		}
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

// termFieldCodes is the number of fields that termField names.
const termFieldCodes = 10

// termField returns the field that code names in a termList; code is
// below termFieldCodes. Code 0 is unused.
func termField(code uint64) string {
	switch code {
	case 1:
		return trail.FieldText
	case 2:
		return trail.FieldActor
	case 3:
		return trail.FieldAction
	case 4:
		return trail.FieldOutcome
	case 5:
		return trail.FieldSeverity
	case 6:
		return trail.FieldResourceType
	case 7:
		return trail.FieldResourceID
	case 8:
		return trail.FieldIP
	case 9:
		return trail.FieldRequestID
	}
	return ""
}

// termFieldCode returns the code of field for a termList, 0 when
// termField names no such field.
func termFieldCode(field string) uint64 {
	switch field {
	case trail.FieldText:
		return 1
	case trail.FieldActor:
		return 2
	case trail.FieldAction:
		return 3
	case trail.FieldOutcome:
		return 4
	case trail.FieldSeverity:
		return 5
	case trail.FieldResourceType:
		return 6
	case trail.FieldResourceID:
		return 7
	case trail.FieldIP:
		return 8
	case trail.FieldRequestID:
		return 9
	}
	return 0
}

// appendTerm appends the entry (field, key) to l, whose last entry has the
// field last ("" when l has none).
func appendTerm(l []byte, last, field, key string) []byte {
	if field == last && last != "" {
		l = binary.AppendUvarint(l, uint64(len(key))<<1)
		return append(l, key...)
	}
	l = binary.AppendUvarint(l, uint64(len(key))<<1|1)
	if code := termFieldCode(field); code != 0 {
		l = binary.AppendUvarint(l, code)
	} else {
		l = binary.AppendUvarint(l, termFieldCodes+uint64(len(field)))
		l = append(l, field...)
	}
	return append(l, key...)
}

// termArena encodes the index entries of one Append call's events into a
// few shared slabs instead of one allocation per event.
type termArena struct {
	slab []byte
}

const (
	termSlabMax   = 256 << 10
	termsPerEvent = 320 // bytes; 276 on average for storetest.Gen events (BenchmarkTermArena)
	termMinRemain = 2 << 10
)

// of returns the index entries of ev; remaining is the number of events
// still to index, including ev. The result is never nil (see writeBlock).
func (a *termArena) of(ev *trail.Event, remaining int) termList {
	want := min(termSlabMax, remaining*termsPerEvent)
	if cap(a.slab)-len(a.slab) < min(want, termMinRemain) {
		a.slab = make([]byte, 0, want)
	}
	// The slab and the last field live in locals while ev is indexed: in
	// the arena, which may be on the heap, every store of a pointer would
	// pay for a write barrier while the garbage collector runs.
	slab := a.slab
	start := len(slab)
	last := ""
	trail.IndexTerms(ev, func(field, key string) {
		slab = appendTerm(slab, last, field, key)
		last = field
	})
	a.slab = slab
	return termList(slab[start:len(slab):len(slab)])
}

// termsOf returns the index entries of ev in a list of its own.
func termsOf(ev *trail.Event) termList {
	var a termArena
	return a.of(ev, 1)
}
