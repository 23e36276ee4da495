package pgstore

// Per-event term signatures, bit-sliced per commit (trail_words.slices,
// migration 5).
//
// A trail_words row tells which commits may hold a word; it cannot tell
// which of a commit's events do, so a word present in every commit but in
// few events meant reading whole commits. Each event therefore also gets a
// Bloom signature of its terms: sigBits bits, sigHashes of them set per
// term. The signatures of the n events of a row are stored transposed, as
// sigBits slices of n bits each, so that a query reads only the slices of
// its words' bits (substring of an uncompressed TOAST value fetches only
// the chunks it covers), ANDs them and fetches just the events whose bit
// survives.
//
// Wire format of slices, with L = (n+7)/8 bytes per slice:
//
//	slice j = bytes [j·L, (j+1)·L); event at offset o = seq − first_seq
//	is bit o%8 (least significant first) of byte j·L + o/8
//
// Bit positions of a term t: h = FNV-1a 64(t), h1 = low 32 bits, h2 = high
// 32 bits | 1; position i (0 ≤ i < sigHashes) is (h1 + i·h2) mod sigBits,
// in uint32 arithmetic. A set bit only makes an event a candidate, which
// the matcher decides, so extra bits cost reads, never results; a missing
// bit would hide an event, which Verify checks for. NULL (rows written
// before migration 5) means no signature: the whole range is read.
const (
	sigBits   = 512
	sigHashes = 3
)

// sigSliceLen returns the bytes of one slice of a row of n events.
func sigSliceLen(n int64) int64 { return (n + 7) / 8 }

// sigPositions appends the signature bit positions of term to out.
func sigPositions(out []int32, term string) []int32 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(term); i++ {
		h = (h ^ uint64(term[i])) * 1099511628211
	}
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < sigHashes; i++ {
		out = append(out, int32((h1+i*h2)%sigBits))
	}
	return out
}

// buildSlices returns the slices of a row whose events have the given
// terms, in seq order.
func buildSlices(terms [][]string) []byte {
	l := int(sigSliceLen(int64(len(terms))))
	out := make([]byte, sigBits*l)
	var pos []int32
	for o, ts := range terms {
		for _, t := range ts {
			pos = sigPositions(pos[:0], t)
			for _, p := range pos {
				out[int(p)*l+o/8] |= 1 << (o % 8)
			}
		}
	}
	return out
}

// sigHas reports whether every bit of pos is set for the event at offset o
// of a row of n events, given its slices.
func sigHas(slices []byte, n int64, o int, pos []int32) bool {
	l := int(sigSliceLen(n))
	for _, p := range pos {
		if slices[int(p)*l+o/8]&(1<<(o%8)) == 0 {
			return false
		}
	}
	return true
}
