package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// fieldIndex is one field's dictionary of n keys, in increasing order, as
// one string of entries, each
//
//	key length uvarint | key | postings length uvarint | postings
//
// with the offset of every restartEvery-th entry in restarts. Keys and
// postings are sliced out of entries when looked up, so a Reader holds
// about as many bytes per key as the file's index does, in one allocation
// per field.
type fieldIndex struct {
	name     string
	kind     uint64
	n        int
	entries  string
	restarts []uint32
}

// restartEvery is the number of dictionary entries per restart offset: a
// lookup reads that many entries at most after its binary search.
const restartEvery = 16

// parse reads the keys and postings of a field at d's position, checks
// that the keys increase strictly and the postings are valid below limit,
// and builds f's entries. scratch is reused between fields.
func (f *fieldIndex) parse(d *dec, limit uint64, scratch *[]uint32) error {
	n := d.count(uint64(len(d.b) - d.off))
	// Keys: check their front coding and size the entries.
	keysOff := d.off
	total, prevLen := uint64(0), 0
	for i := 0; i < n && d.err == nil; i++ {
		shared := d.count(uint64(prevLen))
		suffix := d.bytes(d.count(uint64(len(d.b))))
		prevLen = shared + len(suffix)
		total += uint64(uvarintLen(uint64(prevLen)) + prevLen)
		if total > math.MaxUint32 {
			return errors.New("keys too large")
		}
	}
	// Postings: check them and note their sizes.
	postOff := d.off
	lens := (*scratch)[:0]
	for i := 0; i < n && d.err == nil; i++ {
		p := d.postings(limit)
		if d.err == nil && len(p) > 0 && p[0] == 0 {
			d.fail("empty postings")
		}
		lens = append(lens, uint32(len(p)))
		total += uint64(uvarintLen(uint64(len(p))) + len(p))
	}
	*scratch = lens
	if d.err != nil {
		return d.err
	}
	if total > math.MaxUint32 {
		return errors.New("keys too large")
	}

	// Entries, in a buffer of the exact size: keys are rebuilt from the
	// previous key, which is in the buffer already.
	var sb strings.Builder
	sb.Grow(int(total))
	f.n = n
	f.restarts = make([]uint32, 0, (n+restartEvery-1)/restartEvery)
	kd := dec{b: d.b, off: keysOff}
	var num [binary.MaxVarintLen64]byte
	prev := ""
	for i := 0; i < n; i++ {
		if i%restartEvery == 0 {
			f.restarts = append(f.restarts, uint32(sb.Len()))
		}
		shared := int(kd.uvarint())
		suffix := kd.bytes(int(kd.uvarint()))
		sb.Write(binary.AppendUvarint(num[:0], uint64(shared+len(suffix))))
		start := sb.Len()
		sb.WriteString(prev[:shared])
		sb.Write(suffix)
		key := sb.String()[start:]
		if i > 0 && key <= prev {
			return fmt.Errorf("key %d out of order", i)
		}
		prev = key
		sb.Write(binary.AppendUvarint(num[:0], uint64(lens[i])))
		sb.Write(d.b[postOff : postOff+int(lens[i])])
		postOff += int(lens[i])
	}
	f.entries = sb.String()
	return nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// uvarint is binary.Uvarint for strings and byte slices.
func uvarint[T string | []byte](b T) (uint64, int) {
	var x uint64
	var s uint
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		c := b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// dictIter walks a field's entries from a position; next loads the entry
// there into key and post.
type dictIter struct {
	f    *fieldIndex
	i    int // index of the entry at off
	off  int
	key  string
	post string // postings: count, first, gaps
}

func (it *dictIter) next() bool {
	if it.f == nil || it.i >= it.f.n {
		return false
	}
	s := it.f.entries
	kl, k := uvarint(s[it.off:])
	off := it.off + k
	it.key = s[off : off+int(kl)]
	off += int(kl)
	pl, k := uvarint(s[off:])
	off += k
	it.post = s[off : off+int(pl)]
	it.off = off + int(pl)
	it.i++
	return true
}

// keyAt returns the key of the entry at offset off.
func (f *fieldIndex) keyAt(off uint32) string {
	kl, k := uvarint(f.entries[off:])
	return f.entries[int(off)+k : int(off)+k+int(kl)]
}

// iter returns an iterator whose next entry is the first.
func (f *fieldIndex) iter() dictIter { return dictIter{f: f} }

// seek returns an iterator whose next entry is the first with a key at
// least target.
func (f *fieldIndex) seek(target string) dictIter {
	b := sort.Search(len(f.restarts), func(b int) bool { return f.keyAt(f.restarts[b]) > target })
	it := dictIter{f: f}
	if b > 0 {
		it.i, it.off = (b-1)*restartEvery, int(f.restarts[b-1])
	}
	for {
		at := it
		if !it.next() || it.key >= target {
			return at
		}
	}
}

// find returns the postings of key and whether it is present.
func (f *fieldIndex) find(key string) (string, bool) {
	it := f.seek(key)
	if it.next() && it.key == key {
		return it.post, true
	}
	return "", false
}
