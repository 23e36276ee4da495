package block

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/trail-audit/trail"
)

// Format constants.
const (
	version          = 1 // plaintext
	versionEncrypted = 2 // chunks and index sealed by Options.Cipher
	headerLen        = 8
	footerLen        = 40
	headerPrefix     = "TRLBLK\x00"
	footerText       = "TRLBLKFT"

	// DefaultChunkRows is the number of rows per chunk when Options.ChunkRows is 0.
	DefaultChunkRows = 128
	// MaxChunkRows bounds Options.ChunkRows.
	MaxChunkRows = 1 << 16
	// MaxRowBytes bounds the data of one row.
	MaxRowBytes = 16 << 20

	chunkSoftBytes = 8 << 20   // a chunk is cut early past this many data bytes
	maxChunkRaw    = 64 << 20  // no chunk payload is larger
	maxIndexRaw    = 1 << 31   // no index payload is larger
	maxRows        = 1<<31 - 1 // row numbers fit in uint32 and int
	flagUnindexed  = 1         // chunk flag: no chunk-level postings
	kindRows       = 0         // field kind: row postings
	kindChunks     = 1         // field kind: chunk postings
)

// Compression levels for Options.Level, one per speed of the encoder.
const (
	LevelFastest = 1  // zstd's fastest speed
	LevelFast    = 3  // zstd's default speed
	LevelBetter  = 7  // better compression, about half the speed of LevelFast
	LevelBest    = 11 // best compression, several times slower again
	// DefaultLevel is the level of Options.Level 0. On the realistic
	// events of TestBytesPerRow (50 000 rows, chunks of 128) LevelBetter
	// makes 134.4 bytes per event and LevelFast 140.6; BenchmarkWriter
	// (10 000 rows, index terms included) writes 137.9 and 144.1 bytes
	// per row, LevelFast about 1.4 times as fast. Blocks are written on
	// the ingest path (every flush), so the default is LevelFast: the
	// engine's budget of 200 bytes per event on disk
	// (docs/design/logstore-bench.md) leaves room for the 4% more.
	DefaultLevel = LevelFast
	// indexLevel compresses an index of at least smallIndexRaw bytes:
	// LevelBest would save 3% of it at ten times the cost.
	indexLevel = LevelBetter
	// smallIndexLevel compresses a smaller index: on realistic rows
	// (TestIndexLevels, fastest of five rounds on a loaded machine) it
	// takes 35–50% less time than LevelBetter from 300 rows to 3000 (64
	// KiB of index at 1000 rows: 229 µs against 417 µs), 15–60% less at
	// 10 000–20 000 rows (0.45–0.9 MiB; noisier), 10–15% less below 100
	// rows, for at most 1.6% more bytes. Past a MiB it falls behind (7%
	// more on TestBytesPerRow's 50 000 rows). LevelFastest would halve
	// the time again but adds 3–9% below 3000 rows and 30% above.
	smallIndexLevel = LevelFast
	smallIndexRaw   = 1 << 20
)

// indexLevelFor returns the compression level of an index of rawLen
// bytes.
func indexLevelFor(rawLen int) int {
	if rawLen < smallIndexRaw {
		return smallIndexLevel
	}
	return indexLevel
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// ChunkLevel reports whether field has chunk-level postings: only the
// free-text field trail.FieldText does.
func ChunkLevel(field string) bool { return field == trail.FieldText }

var (
	encoders = func() (e [zstd.SpeedBestCompression + 1]func() *zstd.Encoder) {
		for speed := range e {
			e[speed] = sync.OnceValue(func() *zstd.Encoder {
				e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(speed)),
					zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
				if err != nil {
					panic(err) // options are constant
				}
				return e
			})
		}
		return e
	}()
	decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
			zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(maxIndexRaw))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// encoder returns the shared encoder of a compression level (Options.Level).
func encoder(level int) *zstd.Encoder {
	if level <= 0 {
		level = DefaultLevel
	}
	return encoders[zstd.EncoderLevelFromZstd(level)]()
}

// chunkMeta is one entry of the chunk table.
type chunkMeta struct {
	firstRow int
	rows     int
	erased   int // filled by Open and the writers
	off      int64
	rawLen   int
	compLen  int
	crc      uint32
	minTime  int64
	maxTime  int64
	flags    uint64
}

// headerOf returns the header of a file of format version v.
func headerOf(v uint32) []byte { return []byte(headerPrefix + string(rune(v))) }

// Cipher encrypts and authenticates the chunks and the index of a block
// (Options.Cipher). The block passes as aad the unit's place in the file
// (see ChunkAAD and IndexAAD); the Cipher should add the file's own
// identity, so that units do not open in another file either.
type Cipher interface {
	// Seal appends the sealed form of plaintext to dst and returns the
	// extended slice; plaintext and dst do not overlap.
	Seal(dst, plaintext, aad []byte) []byte
	// Open appends the plaintext that sealed holds to dst and returns the
	// extended slice, or an error when sealed does not open with aad.
	Open(dst, sealed, aad []byte) ([]byte, error)
}

// ChunkAAD is the additional data of chunk i: "trailblk", 'c', i as a
// big-endian uint32.
func ChunkAAD(i int) [13]byte {
	var b [13]byte
	copy(b[:], "trailblkc")
	binary.BigEndian.PutUint32(b[9:], uint32(i))
	return b
}

// IndexAAD is the additional data of the index: "trailblk", 'i'.
func IndexAAD() []byte { return []byte("trailblki") }

// footer is the fixed-size trailer of a file.
type footer struct {
	version     uint32
	indexOff    uint64
	indexLen    uint32
	indexRawLen uint32
	indexCRC    uint32
	fileCRC     uint32
}

func (f footer) append(b []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, f.indexOff)
	b = binary.LittleEndian.AppendUint32(b, f.indexLen)
	b = binary.LittleEndian.AppendUint32(b, f.indexRawLen)
	b = binary.LittleEndian.AppendUint32(b, f.indexCRC)
	b = binary.LittleEndian.AppendUint32(b, f.fileCRC)
	b = binary.LittleEndian.AppendUint32(b, f.version)
	b = append(b, footerText...)
	return binary.LittleEndian.AppendUint32(b, crc(b[start:]))
}

func parseFooter(b []byte) (footer, error) {
	if len(b) != footerLen || string(b[28:36]) != footerText {
		return footer{}, errors.New("bad footer magic")
	}
	if crc(b[:36]) != binary.LittleEndian.Uint32(b[36:]) {
		return footer{}, errors.New("footer checksum mismatch")
	}
	v := binary.LittleEndian.Uint32(b[24:])
	if v != version && v != versionEncrypted {
		return footer{}, errors.New("unsupported version")
	}
	return footer{
		version:     v,
		indexOff:    binary.LittleEndian.Uint64(b[0:]),
		indexLen:    binary.LittleEndian.Uint32(b[8:]),
		indexRawLen: binary.LittleEndian.Uint32(b[12:]),
		indexCRC:    binary.LittleEndian.Uint32(b[16:]),
		fileCRC:     binary.LittleEndian.Uint32(b[20:]),
	}, nil
}

// appendPostings encodes vals (sorted, unique) as count, first, gaps.
func appendPostings(b []byte, vals []uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(vals)))
	prev := uint32(0)
	for i, v := range vals {
		if i == 0 {
			b = binary.AppendUvarint(b, uint64(v))
		} else {
			b = binary.AppendUvarint(b, uint64(v-prev))
		}
		prev = v
	}
	return b
}

// appendDecodedPostings appends the values of the postings at the start of
// b, each plus shift, to dst. The postings were validated by Open.
func appendDecodedPostings[T string | []byte](dst []uint32, b T, shift uint32) []uint32 {
	n, k := uvarint(b)
	if k <= 0 {
		return dst
	}
	b = b[k:]
	dst = slices.Grow(dst, int(min(n, uint64(len(b))))) // each value takes a byte at least
	v := uint32(0)
	for i := uint64(0); i < n; i++ {
		var d uint64
		if c := b[0]; c < 0x80 { // most gaps take one byte
			d, k = uint64(c), 1
		} else if d, k = uvarint(b); k <= 0 {
			return dst
		}
		b = b[k:]
		v += uint32(d)
		dst = append(dst, v+shift)
	}
	return dst
}

// filterPostings appends to dst the values of rows (sorted ascending)
// that the postings at the start of b hold. The postings were validated
// by Open. Gaps under 0x80 take one byte each, so eight bytes without a
// high bit are eight whole gaps: when their sum keeps the value below the
// next row wanted, they are skipped together.
func filterPostings[T string | []byte](dst, rows []uint32, b T) []uint32 {
	n, k := uvarint(b)
	if k <= 0 {
		return dst
	}
	b = b[k:]
	v := uint32(0) // the last value decoded (the first is a gap from 0)
	i := uint64(0) // values decoded
	for _, want := range rows {
		for i == 0 || v < want {
			if i == n {
				return dst
			}
			if n-i >= 8 && len(b) >= 8 {
				w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
					uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
				if w&0x8080808080808080 == 0 {
					// Sum the eight bytes: pairs into 16-bit lanes, then the lanes.
					pairs := w&0x00ff00ff00ff00ff + w>>8&0x00ff00ff00ff00ff
					if sum := uint32(pairs * 0x0001000100010001 >> 48); uint64(v)+uint64(sum) < uint64(want) {
						v += sum
						i += 8
						b = b[8:]
						continue
					}
				}
			}
			var d uint64
			if c := b[0]; c < 0x80 {
				d, k = uint64(c), 1
			} else if d, k = uvarint(b); k <= 0 {
				return dst
			}
			b = b[k:]
			v += uint32(d)
			i++
		}
		if v == want {
			dst = append(dst, want)
		}
	}
	return dst
}

// indexHeader is the part of the index payload before the fields.
type indexHeader struct {
	tenant   string
	firstSeq int64
	rows     int
	chunks   []chunkMeta
	erased   []uint32
}

func (h *indexHeader) append(b []byte) []byte {
	b = appendString(b, h.tenant)
	b = binary.AppendVarint(b, h.firstSeq)
	b = binary.AppendUvarint(b, uint64(h.rows))
	b = binary.AppendUvarint(b, uint64(len(h.chunks)))
	prevMin := int64(0)
	for _, c := range h.chunks {
		b = binary.AppendUvarint(b, uint64(c.rows))
		b = binary.AppendUvarint(b, uint64(c.rawLen))
		b = binary.AppendUvarint(b, uint64(c.compLen))
		b = binary.LittleEndian.AppendUint32(b, c.crc)
		b = binary.AppendVarint(b, c.minTime-prevMin)
		b = binary.AppendUvarint(b, uint64(c.maxTime-c.minTime))
		b = binary.AppendUvarint(b, c.flags)
		prevMin = c.minTime
	}
	return appendPostings(b, h.erased)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// fieldEncoder builds the encoded dictionary of one field, key by key in
// increasing order.
type fieldEncoder struct {
	name  string
	kind  uint64
	n     int
	keys  []byte
	posts []byte
	prev  string
}

func (f *fieldEncoder) reset(name string, kind uint64) {
	f.name, f.kind, f.n, f.keys, f.posts, f.prev = name, kind, 0, f.keys[:0], f.posts[:0], ""
}

// add appends key (greater than the previous one) with its postings.
func (f *fieldEncoder) add(key string, vals []uint32) {
	shared := 0
	for shared < len(key) && shared < len(f.prev) && key[shared] == f.prev[shared] {
		shared++
	}
	f.keys = binary.AppendUvarint(f.keys, uint64(shared))
	f.keys = appendString(f.keys, key[shared:])
	f.posts = appendPostings(f.posts, vals)
	f.prev = key
	f.n++
}

func (f *fieldEncoder) appendTo(b []byte) []byte {
	b = appendString(b, f.name)
	b = binary.AppendUvarint(b, f.kind)
	b = binary.AppendUvarint(b, uint64(f.n))
	b = append(b, f.keys...)
	return append(b, f.posts...)
}

// decoder reads the index payload; the first error sticks and zero values
// are returned after it.
type dec struct {
	b   []byte
	off int
	err error
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b[d.off:])
	if k <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += k
	return v
}

// count reads a uvarint that must be at most max.
func (d *dec) count(max uint64) int {
	v := d.uvarint()
	if v > max {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b[d.off:])
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += k
	return v
}

func (d *dec) u32() uint32 {
	if d.err != nil || len(d.b)-d.off < 4 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) bytes(n int) []byte {
	if d.err != nil || n < 0 || len(d.b)-d.off < n {
		d.fail("truncated")
		return nil
	}
	b := d.b[d.off : d.off+n]
	d.off += n
	return b
}

func (d *dec) string() string {
	return string(d.bytes(d.count(uint64(len(d.b)))))
}

// postings checks the postings at the decoder's position (count values,
// strictly increasing, each below limit), skips them and returns their
// bytes.
func (d *dec) postings(limit uint64) []byte {
	start := d.off
	n := d.count(uint64(len(d.b) - d.off))
	v := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		g := d.uvarint()
		if i > 0 && g == 0 {
			d.fail("postings not increasing")
		}
		v += g
		if v >= limit {
			d.fail("posting out of range")
		}
	}
	if d.err != nil {
		return nil
	}
	return d.b[start:d.off]
}
