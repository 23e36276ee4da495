package client

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A spool segment is a file that starts with the 8-byte magic segmentMagic
// and holds records back to back:
//
//	length  uint32, little endian: the payload's size in bytes (1..maxRecord)
//	crc     uint32, little endian: CRC-32C (Castagnoli) of the payload
//	payload length bytes: one event in its client JSON form
//
// Records are only ever appended, and a group of them is fsync'd before it
// counts as spooled, so a crash can leave at most a torn tail: a record cut
// short or with a checksum that does not match. Readers keep every record
// before the first bad one.
const (
	segmentMagic = "TRLSPL01"
	recordHeader = 8
	maxRecord    = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTornRecord reports a record that is cut short, too large, empty or
// fails its checksum: everything from it on is unusable.
var errTornRecord = errors.New("torn or corrupt spool record")

// appendRecord appends the framed payload to buf.
func appendRecord(buf, payload []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(payload, castagnoli))
	return append(buf, payload...)
}

// readRecords parses the records of a segment body (the bytes after the
// magic). It returns the payloads of the records before the first bad one,
// which alias data, and good, the length of the prefix they occupy. err is
// nil when data ends exactly after a whole record (or is empty), and
// errTornRecord when a bad record starts at good.
func readRecords(data []byte) (recs [][]byte, good int, err error) {
	for good < len(data) {
		rest := data[good:]
		if len(rest) < recordHeader {
			return recs, good, errTornRecord
		}
		n := binary.LittleEndian.Uint32(rest)
		sum := binary.LittleEndian.Uint32(rest[4:])
		if n == 0 || n > maxRecord || uint64(len(rest)-recordHeader) < uint64(n) {
			return recs, good, errTornRecord
		}
		payload := rest[recordHeader : recordHeader+int(n)]
		if crc32.Checksum(payload, castagnoli) != sum {
			return recs, good, errTornRecord
		}
		recs = append(recs, payload)
		good += recordHeader + int(n)
	}
	return recs, good, nil
}
