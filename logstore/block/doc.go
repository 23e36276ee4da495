// Package block implements the immutable block files of the embedded store
// (DESIGN.md §4): one file holds a contiguous range of one tenant's log,
// rows [0, Rows) being seqs [FirstSeq, FirstSeq+Rows). A row holds an
// event's leaf bytes (its canonical JSON) or is erased (no data, no index
// entries). Leaf hashes are kept elsewhere.
//
// Rows are grouped into chunks (Options.ChunkRows, default 128; Merge copies
// chunks verbatim, so chunk sizes may vary within a file), each compressed
// on its own with zstd and protected by a CRC-32C of its compressed bytes.
// The index maps, per field, every key to a postings list: the sorted row
// numbers whose event carries that key. The free-text field (trail.FieldText)
// has chunk-level postings instead (sorted chunk numbers), which keeps the
// file small; a lookup there returns every live row of the matching chunks,
// a superset the caller filters by reading the rows.
//
// File layout (integers little-endian; uvarint/varint as encoding/binary):
//
//	+---------------------------------------------------------------+
//	| header   "TRLBLK" 0x00 version (1, 2 = encrypted)  8 bytes    |
//	+---------------------------------------------------------------+
//	| chunk 0  zstd frame of the chunk payload          compLen[0]  |
//	| chunk 1  …                                                    |
//	| …        (a chunk whose rows are all erased has no bytes)     |
//	+---------------------------------------------------------------+ indexOff
//	| index    zstd frame of the index payload          indexLen    |
//	+---------------------------------------------------------------+
//	| footer   indexOff u64 | indexLen u32 | indexRawLen u32 |      |
//	|          indexCRC u32 | fileCRC u32 | version u32 |           |
//	|          "TRLBLKFT" | footerCRC u32                40 bytes   |
//	+---------------------------------------------------------------+
//
// Chunk payload: one uvarint per row (0 = erased, else 1 + length of the
// row's data), then the data of the live rows, concatenated.
//
// Index payload:
//
//	tenant      uvarint length, bytes
//	firstSeq    varint
//	rows        uvarint
//	chunks      uvarint n, then per chunk:
//	              rows uvarint | rawLen uvarint | compLen uvarint |
//	              crc u32 | minTime varint (delta from the previous chunk's) |
//	              maxTime-minTime uvarint | flags uvarint (1 = unindexed)
//	erased      postings of the erased rows
//	fields      uvarint n, then per field in name order:
//	              name (uvarint length, bytes) | kind uvarint (0 rows, 1 chunks) |
//	              keys uvarint n, then per key in byte order:
//	                shared-prefix uvarint | suffix length uvarint | suffix
//	              then per key its postings
//	postings    uvarint count, first value uvarint, then count-1 gaps uvarint
//
// Chunk offsets are implied: chunk i starts where chunk i-1 ends, the first
// right after the header, the last ending at indexOff. indexCRC, footerCRC
// and the header are checked by Open; each chunk's CRC when it is read;
// fileCRC (of every byte before the footer) by Verify. A chunk flagged
// unindexed (its rows were erased by Merge, which cannot recompute free-text
// words) has no chunk-level postings and matches every chunk-level lookup.
//
// An encrypted block (Options.Cipher) has format version 2 in its header
// and footer; each chunk's zstd frame and the index's zstd frame are
// stored sealed by the Cipher, with additional data ChunkAAD(i) and
// IndexAAD(), and compLen, indexLen and the CRCs count the sealed bytes.
// The header, footer and chunk table layout are unchanged, and Merge opens
// and re-seals chunks rather than copying them verbatim.
//
// Every error names the file and, where it helps, the offset.
package block
