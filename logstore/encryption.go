package logstore

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/logstore/wal"
)

// Encryption at rest (Options.Encryption; docs/design/logstore.md,
// "Encryption at rest"). Every unit that holds event content is sealed
// with AES-256-GCM by a keyring.Sealer, under additional data that names
// its place:
//
//	WAL record     "trail\x00wal\x00" + wal.AAD(segment, frame offset)
//	block chunk    "trail\x00" + path + "\x00" + block.ChunkAAD(i)
//	block index    "trail\x00" + path + "\x00" + block.IndexAAD()
//	id table       "trail\x00" + path + "\x00"   (path ending ".ids")
//
// where path is the file's path in the data directory, with slashes
// ("tenants/acme/blocks/…blk"), which names its tenant, seq range and
// generation; an id table, stored in its block's file after the block, is
// bound to the block's path with ".ids" for ".blk" (the name of the file
// it had before it moved in). Tiles (hashes) and checkpoints.log (signed
// tree heads) stay plaintext.
//
// The file ENCRYPTION marks an encrypted store:
//
//	trail encryption at rest 1
//	plaintext-before             (only if the store held plaintext data then)
//	check <key id> <base64 of keyring check value>
//	…
//
// with one check value per key id the store has seen, so that a wrong key
// is reported as such at Open rather than as damaged data.
const (
	encryptionFile   = "ENCRYPTION"
	encryptionHeader = "trail encryption at rest 1"
	idsSealedMagic   = "trailide"
)

// encryption is the encryption state of an open store.
type encryption struct {
	sealer *keyring.Sealer
	// plainOK: the store held plaintext data when encryption was turned
	// on, so plaintext WAL records and blocks are still read.
	plainOK bool
}

// marker is the content of the ENCRYPTION file.
type marker struct {
	plainBefore bool
	ids         []string
	checks      map[string][]byte
}

func parseMarker(data []byte) (*marker, error) {
	m := &marker{checks: map[string][]byte{}}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if lines[0] != encryptionHeader {
		return nil, errors.New("line 1: not a trail encryption marker")
	}
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "plaintext-before":
			m.plainBefore = true
		case len(f) == 3 && f[0] == "check" && keyring.ValidateID(f[1]) == nil && m.checks[f[1]] == nil:
			b, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil || len(b) == 0 {
				return nil, fmt.Errorf("line %d: bad check value of key %s", i+2, f[1])
			}
			m.ids = append(m.ids, f[1])
			m.checks[f[1]] = b
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+2, line)
		}
	}
	return m, nil
}

func (m *marker) encode() []byte {
	var b strings.Builder
	b.WriteString(encryptionHeader + "\n")
	if m.plainBefore {
		b.WriteString("plaintext-before\n")
	}
	for _, id := range m.ids {
		fmt.Fprintf(&b, "check %s %s\n", id, base64.StdEncoding.EncodeToString(m.checks[id]))
	}
	return []byte(b.String())
}

// setupEncryption reads (or, with a keyring, creates) the ENCRYPTION file
// and checks the keyring against it: an encrypted store needs a keyring,
// and every key of the keyring that the store has seen must have the same
// bytes. It records a check value for every new key id of the keyring.
func (s *Store) setupEncryption() error {
	path := filepath.Join(s.opts.Dir, encryptionFile)
	data, err := readFile(s.fs, path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logstore: %w", err)
	}
	var m *marker
	if exists {
		if m, err = parseMarker(data); err != nil {
			return fmt.Errorf("logstore: %s: %w", encryptionFile, err)
		}
	}
	ring := s.opts.Encryption
	if ring == nil {
		if exists {
			return fmt.Errorf("logstore: %s is encrypted at rest (see its %s file, keys %s): open it with its keyring",
				s.opts.Dir, encryptionFile, strings.Join(m.ids, ", "))
		}
		return nil
	}
	sealer, err := ring.NewSealer(crand.Reader)
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	if !exists {
		plain, err := s.holdsData()
		if err != nil {
			return err
		}
		m = &marker{plainBefore: plain, checks: map[string][]byte{}}
		if plain {
			s.log.Warn("encryption at rest turned on for a store holding plaintext data: it stays readable, new data is encrypted", "dir", s.opts.Dir)
		}
	}
	changed := !exists
	for _, id := range m.ids {
		if !ring.Has(id) {
			continue // needed only if data sealed with it remains: reading it says so
		}
		if err := ring.VerifyCheck(id, m.checks[id]); err != nil {
			return fmt.Errorf("logstore: %s: %w", encryptionFile, err)
		}
	}
	for _, id := range ring.IDs() {
		if m.checks[id] == nil {
			check, err := sealer.CheckValue(id)
			if err != nil {
				return fmt.Errorf("logstore: %w", err)
			}
			m.ids = append(m.ids, id)
			m.checks[id] = check
			changed = true
		}
	}
	if changed {
		if err := vfs.WriteFileAtomic(s.fs, path, m.encode(), 0o644); err != nil {
			return fmt.Errorf("logstore: %w", err)
		}
	}
	s.enc = &encryption{sealer: sealer, plainOK: m.plainBefore}
	return nil
}

// holdsData reports whether the data directory holds any tenant or WAL
// record.
func (s *Store) holdsData() (bool, error) {
	des, err := s.fs.ReadDir(filepath.Join(s.opts.Dir, "tenants"))
	if err != nil {
		return false, fmt.Errorf("logstore: %w", err)
	}
	if len(des) > 0 {
		return true, nil
	}
	des, err = s.fs.ReadDir(filepath.Join(s.opts.Dir, "wal"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("logstore: %w", err)
	}
	for _, de := range des {
		if fi, err := de.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// rel returns path relative to the data directory, with slashes: the name
// of a file in errors and in its additional data.
func (s *Store) rel(path string) string {
	if r, err := filepath.Rel(s.opts.Dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// fileCipher seals and opens the units of one file: it prefixes the
// additional data of each unit with the file's place.
type fileCipher struct {
	sealer *keyring.Sealer
	place  []byte // "trail\x00" + path + "\x00"
}

func newFileCipher(sealer *keyring.Sealer, place string) *fileCipher {
	return &fileCipher{sealer: sealer, place: []byte("trail\x00" + place + "\x00")}
}

func (c *fileCipher) aad(unit []byte) []byte {
	return append(c.place[:len(c.place):len(c.place)], unit...)
}

func (c *fileCipher) Seal(dst, plaintext, aad []byte) []byte {
	return c.sealer.Seal(dst, plaintext, c.aad(aad))
}

func (c *fileCipher) Open(dst, sealed, aad []byte) ([]byte, error) {
	return c.sealer.Open(dst, sealed, c.aad(aad))
}

// walCipher is the WAL's cipher: it also passes plaintext records through
// when the store held plaintext data before encryption was turned on.
type walCipher struct {
	fileCipher
	plainOK bool
}

// errPlaintext reports a plaintext unit in a store created encrypted.
var errPlaintext = errors.New("plaintext data in a store encrypted from its creation: written behind the store's back")

func (c *walCipher) Open(dst, sealed, aad []byte) ([]byte, error) {
	if !keyring.IsSealed(sealed) && len(sealed) > 0 && sealed[0] == recCommit {
		if !c.plainOK {
			return nil, errPlaintext
		}
		return append(dst, sealed...), nil
	}
	return c.fileCipher.Open(dst, sealed, aad)
}

// walOptions returns the options of the WAL.
func (s *Store) walOptions() wal.Options {
	o := wal.Options{SegmentSize: s.opts.WALSegmentSize, FS: s.fs, Preallocate: true}
	if s.enc != nil {
		o.Cipher = &walCipher{fileCipher: *newFileCipher(s.enc.sealer, "wal"), plainOK: s.enc.plainOK}
	}
	return o
}

// blockOptions returns the options of the block file at path.
func (s *Store) blockOptions(path string) block.Options {
	o := s.blockOpts
	if s.enc != nil {
		o.Cipher = newFileCipher(s.enc.sealer, s.rel(path))
	}
	return o
}

// sealIDs returns the stored form of an id table: the table itself, or
// "trailide" and the table sealed for its place.
func (s *Store) sealIDs(path string, table []byte) []byte {
	if s.enc == nil {
		return table
	}
	return newFileCipher(s.enc.sealer, s.rel(path)).Seal([]byte(idsSealedMagic), table, nil)
}

// openIDs returns the id table that the stored bytes of path hold.
func (s *Store) openIDs(path string, stored []byte) ([]byte, error) {
	sealed, ok := bytes.CutPrefix(stored, []byte(idsSealedMagic))
	switch {
	case !ok && (s.enc == nil || s.enc.plainOK):
		return stored, nil
	case !ok:
		return nil, errPlaintext
	case s.enc == nil:
		return nil, fmt.Errorf("encrypted (key id %s) and no keyring was given", keyring.KeyOf(sealed))
	}
	return newFileCipher(s.enc.sealer, s.rel(path)).Open(nil, sealed, nil)
}

// checkBlockEncryption refuses a plaintext block in a store created
// encrypted.
func (s *Store) checkBlockEncryption(r *block.Reader) error {
	if s.enc != nil && !s.enc.plainOK && !r.Encrypted() {
		return errPlaintext
	}
	return nil
}

// keyError reports whether err means the keyring, not the data, is at
// fault: a key it lacks, or no keyring for encrypted data. Open fails on
// such an error instead of quarantining a tenant.
func keyError(err error) bool {
	var uk *keyring.UnknownKeyError
	return errors.As(err, &uk) || errors.Is(err, block.ErrNoCipher)
}

// walOpenError turns an error of replaying the WAL into the store's.
func (s *Store) walOpenError(err error) error {
	var re *wal.RecordError
	if errors.As(err, &re) {
		return fmt.Errorf("logstore: wal/%s, record at offset %d: %w", re.File(), re.Offset, re.Err)
	}
	return fmt.Errorf("logstore: replay wal: %w", err)
}

// keyCause returns the keyring's part of a key error, without the block
// reader's absolute path, for an error that names the file itself.
func keyCause(err error) error {
	var uk *keyring.UnknownKeyError
	if errors.As(err, &uk) {
		return uk
	}
	if errors.Is(err, block.ErrNoCipher) {
		return errors.New("encrypted, and no keyring was given")
	}
	return err
}
