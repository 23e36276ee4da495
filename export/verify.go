package export

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/merkle"
)

// Size limits when reading a bundle.
const (
	maxSmallFile = 1 << 20  // checkpoint, key, manifest.json, README.txt
	maxEventLine = 16 << 20 // an events.ndjson line
	maxProofLine = 64 << 10 // a proofs.ndjson line (at most 63 hashes)
)

// BundleReport describes a bundle that verified.
type BundleReport struct {
	Tenant   string // from the manifest, checked against the origin and every event
	Origin   string // the checkpoint's origin
	TreeSize int64  // the checkpoint's tree size
	Events   int    // lines in events.ndjson
	Erased   int    // of which erased events (leaf hash only)
	// FirstSeq and LastSeq are the seqs of the first and last events, -1
	// when there are none.
	FirstSeq, LastSeq int64
	// KeyTrusted is true when the checkpoint was checked with a key the
	// caller supplied, false when with the key file in the bundle itself,
	// which proves only that the bundle is self-consistent.
	KeyTrusted bool
	// CreatedAt and Filter come from the manifest and are not signed.
	CreatedAt time.Time
	Filter    string
}

// BundleError reports why a bundle does not verify, at the first place
// found. It wraps trail.ErrProofFailed and the underlying cause, if any.
type BundleError struct {
	File   string // file in the bundle, such as "events.ndjson"; "" for the zip archive
	Line   int    // line number in File, from 1; 0 when not about one line
	Seq    int64  // seq of the event concerned, -1 when unknown
	Reason string // what is wrong
	Err    error  // underlying cause, or nil
}

// Error implements error, as in
// "bundle: events.ndjson line 3 (seq 2): leaf not in the checkpoint's tree: …".
func (e *BundleError) Error() string {
	var b strings.Builder
	b.WriteString("bundle: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(" line ")
			b.WriteString(strconv.Itoa(e.Line))
		}
		if e.Seq >= 0 {
			b.WriteString(" (seq ")
			b.WriteString(strconv.FormatInt(e.Seq, 10))
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns trail.ErrProofFailed and the cause.
func (e *BundleError) Unwrap() []error {
	if e.Err == nil {
		return []error{trail.ErrProofFailed}
	}
	return []error{trail.ErrProofFailed, e.Err}
}

func fail(file string, line int, seq int64, err error, format string, args ...any) *BundleError {
	return &BundleError{File: file, Line: line, Seq: seq, Reason: fmt.Sprintf(format, args...), Err: err}
}

// VerifyBundle checks the bundle of size bytes in r offline. It checks, in
// order:
//
//   - the archive holds checkpoint, key, events.ndjson, proofs.ndjson,
//     manifest.json and optionally README.txt, each once, and nothing else;
//   - the checkpoint's signature, with trustedKey (a note verifier key) or,
//     when trustedKey is "", with the bundle's own key file, in which case
//     the report's KeyTrusted is false;
//   - the manifest's format, that its origin and tree_size are the
//     checkpoint's, and that the origin is the manifest tenant's;
//   - line by line, that events.ndjson and proofs.ndjson have the same
//     number of lines; that each event line is JSON of the manifest's tenant
//     whose seq is below the tree size and above the previous line's; that
//     line i of proofs.ndjson is for the seq of line i of events.ndjson, with
//     leaf_index = seq and tree_size = the checkpoint's size; and that the
//     proof shows the line's leaf hash (SHA-256(0x00‖line), or the
//     leaf_hash of an erased event's stub) at leaf_index in the tree with
//     the checkpoint's root (merkle.VerifyInclusion);
//   - that the manifest's events, first_seq and last_seq match the lines.
//
// The first failure is returned as a *BundleError naming the file, the line
// and the seq; it wraps trail.ErrProofFailed. When the two files disagree on
// a line's seq, the error names the file whose seq is the larger, which is
// the one that lost a line or has it out of place. An inclusion proof that
// does not verify is reported on the event's line, since the event and the
// proof on the same line of proofs.ndjson cannot be told apart. A trustedKey
// that is not a verifier key is an error that does not wrap
// trail.ErrProofFailed.
//
// VerifyBundle reads each file once, in constant memory.
func VerifyBundle(r io.ReaderAt, size int64, trustedKey string) (*BundleReport, error) {
	var trusted note.Verifier
	if trustedKey != "" {
		v, err := note.NewVerifier(strings.TrimSpace(trustedKey))
		if err != nil {
			return nil, fmt.Errorf("verify bundle: trusted key: %w", err)
		}
		trusted = v
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fail("", 0, -1, err, "not a zip archive")
	}
	files := make(map[string]*zip.File)
	for _, f := range zr.File {
		switch f.Name {
		case FileCheckpoint, FileKey, FileReadme, FileEvents, FileProofs, FileManifest:
		default:
			return nil, fail("", 0, -1, nil, "unexpected file %q in the archive", f.Name)
		}
		if files[f.Name] != nil {
			return nil, fail(f.Name, 0, -1, nil, "file appears twice in the archive")
		}
		files[f.Name] = f
	}
	for _, name := range []string{FileCheckpoint, FileKey, FileEvents, FileProofs, FileManifest} {
		if files[name] == nil && (name != FileKey || trusted == nil) {
			return nil, fail(name, 0, -1, nil, "missing from the archive")
		}
	}

	rep := &BundleReport{KeyTrusted: trusted != nil}

	// Checkpoint signature.
	v := trusted
	if v == nil {
		text, err := readSmall(files[FileKey])
		if err != nil {
			return nil, err
		}
		if v, err = note.NewVerifier(strings.TrimSpace(string(text))); err != nil {
			return nil, fail(FileKey, 0, -1, err, "not a note verifier key")
		}
	}
	msg, err := readSmall(files[FileCheckpoint])
	if err != nil {
		return nil, err
	}
	cp, err := checkpoint.Open(msg, v)
	if err != nil {
		whose := "the trusted key"
		if trusted == nil {
			whose = "the bundle's key"
		}
		return nil, fail(FileCheckpoint, 0, -1, err, "not validly signed by %s", whose)
	}
	rep.Origin, rep.TreeSize = cp.Origin, cp.Size

	// Manifest.
	m, err := readManifest(files[FileManifest])
	if err != nil {
		return nil, err
	}
	switch {
	case *m.Format != BundleFormat:
		return nil, fail(FileManifest, 0, -1, nil, "format %q, want %q", *m.Format, BundleFormat)
	case *m.Origin != cp.Origin:
		return nil, fail(FileManifest, 0, -1, nil, "origin %q, but the checkpoint's is %q", *m.Origin, cp.Origin)
	case *m.TreeSize != cp.Size:
		return nil, fail(FileManifest, 0, -1, nil, "tree_size %d, but the checkpoint's is %d", *m.TreeSize, cp.Size)
	case trail.ValidateTenantName(*m.Tenant) != nil || !strings.HasSuffix(cp.Origin, "/"+*m.Tenant):
		return nil, fail(FileManifest, 0, -1, nil, "tenant %q does not match origin %q", *m.Tenant, cp.Origin)
	}
	rep.Tenant, rep.Filter = *m.Tenant, m.Filter
	if m.CreatedAt != nil {
		rep.CreatedAt = *m.CreatedAt
	}

	// Events and proofs, line by line.
	if err := verifyLines(files[FileEvents], files[FileProofs], rep, cp); err != nil {
		return nil, err
	}

	if *m.Events != rep.Events {
		return nil, fail(FileManifest, 0, -1, nil, "events %d, but events.ndjson has %d lines", *m.Events, rep.Events)
	}
	if *m.FirstSeq != rep.FirstSeq || *m.LastSeq != rep.LastSeq {
		return nil, fail(FileManifest, 0, -1, nil, "first_seq %d and last_seq %d, but events.ndjson has seqs %d to %d",
			*m.FirstSeq, *m.LastSeq, rep.FirstSeq, rep.LastSeq)
	}
	return rep, nil
}

// manifestIn is manifest.json as read, with required fields as pointers.
type manifestIn struct {
	Format    *string    `json:"format"`
	Tenant    *string    `json:"tenant"`
	Origin    *string    `json:"origin"`
	TreeSize  *int64     `json:"tree_size"`
	Events    *int       `json:"events"`
	FirstSeq  *int64     `json:"first_seq"`
	LastSeq   *int64     `json:"last_seq"`
	CreatedAt *time.Time `json:"created_at"`
	Filter    string     `json:"filter"`
}

func readManifest(f *zip.File) (*manifestIn, error) {
	data, err := readSmall(f)
	if err != nil {
		return nil, err
	}
	var m manifestIn
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fail(FileManifest, 0, -1, err, "not valid JSON")
	}
	if m.Format == nil || m.Tenant == nil || m.Origin == nil || m.TreeSize == nil ||
		m.Events == nil || m.FirstSeq == nil || m.LastSeq == nil {
		return nil, fail(FileManifest, 0, -1, nil, "missing one of format, tenant, origin, tree_size, events, first_seq, last_seq")
	}
	return &m, nil
}

// readSmall reads a whole file of at most maxSmallFile bytes.
func readSmall(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fail(f.Name, 0, -1, err, "cannot open")
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxSmallFile+1))
	if err != nil {
		return nil, fail(f.Name, 0, -1, err, "cannot read")
	}
	if len(data) > maxSmallFile {
		return nil, fail(f.Name, 0, -1, nil, "larger than %d bytes", maxSmallFile)
	}
	return data, nil
}

// eventLine is what VerifyBundle reads from an events.ndjson line.
type eventLine struct {
	Seq      *int64  `json:"seq"`
	Tenant   string  `json:"tenant"`
	Erased   bool    `json:"erased"`
	LeafHash *hash32 `json:"leaf_hash"`
}

// proofLine is a proofs.ndjson line.
type proofLine struct {
	Seq       *int64   `json:"seq"`
	LeafIndex *int64   `json:"leaf_index"`
	TreeSize  *int64   `json:"tree_size"`
	Hashes    []hash32 `json:"hashes"`
}

// hash32 is a SHA-256 hash in standard base64, decoded strictly and without
// trusting the input's length.
type hash32 [32]byte

func (h *hash32) UnmarshalText(b []byte) error {
	var buf [33]byte // DecodedLen(44)
	if len(b) != 44 {
		return errors.New("hash: want 44 characters of standard base64")
	}
	if n, err := base64.StdEncoding.Strict().Decode(buf[:], b); err != nil || n != len(h) {
		return errors.New("hash: want standard base64 of 32 bytes")
	}
	copy(h[:], buf[:len(h)])
	return nil
}

var stubPrefix = []byte(`{"erased":true`)

func verifyLines(ef, pf *zip.File, rep *BundleReport, cp checkpoint.Checkpoint) error {
	events, err := openLines(ef, maxEventLine)
	if err != nil {
		return err
	}
	defer events.Close()
	proofs, err := openLines(pf, maxProofLine)
	if err != nil {
		return err
	}
	defer proofs.Close()

	rep.FirstSeq, rep.LastSeq = -1, -1
	var prevProof int64 = -1
	var hashes []merkle.Hash
	for n := 1; ; n++ {
		eline, eerr := events.next()
		pline, perr := proofs.next()
		if eerr != nil && eerr != io.EOF {
			return eerr
		}
		if perr != nil && perr != io.EOF {
			return perr
		}
		if eerr == io.EOF && perr == io.EOF {
			return nil
		}

		// The event line.
		var seq int64 = -1
		var leaf merkle.Hash
		if eerr == nil {
			var ev eventLine
			if err := json.Unmarshal(eline, &ev); err != nil {
				return fail(FileEvents, n, -1, err, "not a JSON event")
			}
			if ev.Seq == nil {
				return fail(FileEvents, n, -1, nil, "no seq")
			}
			seq = *ev.Seq
			switch {
			case ev.Tenant != rep.Tenant:
				return fail(FileEvents, n, seq, nil, "tenant %q, but the bundle's is %q", ev.Tenant, rep.Tenant)
			case seq < 0 || seq >= cp.Size:
				return fail(FileEvents, n, seq, nil, "seq not in the checkpoint's tree of size %d", cp.Size)
			case rep.LastSeq >= 0 && seq <= rep.LastSeq:
				return fail(FileEvents, n, seq, nil, "seq not after the previous line's %d: lines out of order or repeated", rep.LastSeq)
			}
			if bytes.HasPrefix(eline, stubPrefix) {
				if !ev.Erased || ev.LeafHash == nil {
					return fail(FileEvents, n, seq, nil, "erased event without leaf_hash")
				}
				leaf = merkle.Hash(*ev.LeafHash)
				rep.Erased++
			} else {
				leaf = merkle.LeafHash(eline)
			}
		}

		// The proof line.
		var p proofLine
		if perr == nil {
			if err := json.Unmarshal(pline, &p); err != nil {
				return fail(FileProofs, n, seq, err, "not a JSON inclusion proof")
			}
			if p.Seq == nil || p.LeafIndex == nil || p.TreeSize == nil {
				return fail(FileProofs, n, seq, nil, "missing seq, leaf_index or tree_size")
			}
			if *p.Seq <= prevProof {
				return fail(FileProofs, n, *p.Seq, nil, "seq not after the previous line's %d: lines out of order or repeated", prevProof)
			}
			prevProof = *p.Seq
		}

		switch {
		case perr == io.EOF:
			return fail(FileEvents, n, seq, nil, "no proof for this line: %s has %d lines", FileProofs, n-1)
		case eerr == io.EOF:
			return fail(FileProofs, n, *p.Seq, nil, "no event for this line: %s has %d lines", FileEvents, n-1)
		case *p.Seq > seq:
			return fail(FileProofs, n, *p.Seq, nil, "proof is for seq %d, but %s line %d is seq %d", *p.Seq, FileEvents, n, seq)
		case *p.Seq < seq:
			return fail(FileEvents, n, seq, nil, "event is seq %d, but %s line %d is for seq %d", seq, FileProofs, n, *p.Seq)
		case *p.LeafIndex != seq || *p.TreeSize != cp.Size:
			return fail(FileProofs, n, seq, nil, "proof of leaf %d in tree size %d, want leaf %d in tree size %d",
				*p.LeafIndex, *p.TreeSize, seq, cp.Size)
		}
		hashes = hashes[:0]
		for _, h := range p.Hashes {
			hashes = append(hashes, merkle.Hash(h))
		}
		if err := merkle.VerifyInclusion(leaf, seq, cp.Size, hashes, cp.Root); err != nil {
			return fail(FileEvents, n, seq, err, "leaf not in the checkpoint's tree by the proof on %s line %d", FileProofs, n)
		}

		if rep.Events == 0 {
			rep.FirstSeq = seq
		}
		rep.LastSeq = seq
		rep.Events++
	}
}

// lineReader reads "\n"-terminated lines of at most max bytes from a file
// in the bundle.
type lineReader struct {
	name string
	rc   io.ReadCloser
	r    *bufio.Reader
	max  int
	n    int
	long []byte
}

func openLines(f *zip.File, max int) (*lineReader, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fail(f.Name, 0, -1, err, "cannot open")
	}
	return &lineReader{name: f.Name, rc: rc, r: bufio.NewReaderSize(rc, 64<<10), max: max}, nil
}

func (l *lineReader) Close() error { return l.rc.Close() }

// next returns the next line without its newline, valid until the next
// call, or io.EOF at the end. An empty line, a last line without a newline
// and a line longer than max are errors.
func (l *lineReader) next() ([]byte, error) {
	l.n++
	line, err := l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull && len(l.long) <= l.max {
			line, err = l.r.ReadSlice('\n')
			l.long = append(l.long, line...)
		}
		line = l.long
	}
	switch {
	case len(line) > l.max+1 || err == bufio.ErrBufferFull:
		return nil, fail(l.name, l.n, -1, nil, "line longer than %d bytes", l.max)
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, fail(l.name, l.n, -1, nil, "last line does not end with a newline")
	case err != nil:
		return nil, fail(l.name, l.n, -1, err, "cannot read")
	case len(line) == 1:
		return nil, fail(l.name, l.n, -1, nil, "empty line")
	}
	return line[:len(line)-1], nil
}
