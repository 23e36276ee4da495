package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Merge writes to w one block that is the concatenation of srcs, which
// must be of one tenant and seq-contiguous, in order. Chunks are copied
// verbatim (their CRCs checked on the way) and the dictionaries merged with
// rows and chunks renumbered, so the result reads like a block written
// directly from the concatenated rows with the same chunk boundaries.
//
// When the sources or the output are encrypted (Options.Cipher), chunks
// are opened and sealed again for their new place, under the output
// Cipher's current key, but still not decompressed.
//
// erase, when not nil, names rows (by seq) whose content must be removed.
// Their chunks are decompressed and re-encoded with those rows erased, and
// their index entries are dropped. The chunk-level (free-text) postings of
// such a chunk are recomputed from its remaining rows with opts.Terms; when
// opts.Terms is nil they are dropped, since the words of the remaining rows
// cannot be told apart from those of the erased ones, and the chunk is
// flagged unindexed: it matches every chunk-level lookup instead, so no
// live row is missed and no erased word can be found. Rows already erased
// stay erased. Chunks keep their sizes (opts.ChunkRows is not used).
// Merge does not close w.
func Merge(w io.Writer, srcs []*Reader, erase func(seq int64) bool, opts Options) (Meta, error) {
	if len(srcs) == 0 {
		return Meta{}, errors.New("block: merge of no blocks")
	}
	first := srcs[0].meta
	total := 0
	for _, s := range srcs {
		m := s.meta
		if m.Tenant != first.Tenant {
			return Meta{}, fmt.Errorf("block: merge: %s is of tenant %q, %s of %q", s.name, m.Tenant, srcs[0].name, first.Tenant)
		}
		if want := first.FirstSeq + int64(total); m.FirstSeq != want {
			return Meta{}, fmt.Errorf("block: merge: %s starts at seq %d, want %d", s.name, m.FirstSeq, want)
		}
		total += m.Rows
		if total > maxRows {
			return Meta{}, fmt.Errorf("block: merge: more than %d rows", maxRows)
		}
	}

	out := newOutput(w, opts)
	h := indexHeader{tenant: first.Tenant, firstSeq: first.FirstSeq, rows: total}
	var (
		killed    []uint32 // newly erased rows, merged numbering
		unindexed = map[uint32]bool{}
		reindexed = map[uint32]map[[2]string]bool{}
		buf       []byte
		plain     []byte
		scratch   []byte
		dc        decodedChunk
		raw       []byte
		kill      []int
	)
	rowBase := 0
	for _, s := range srcs {
		for ci, m := range s.chunks {
			kill = kill[:0]
			if erase != nil && m.erased < m.rows {
				for j := 0; j < m.rows; j++ {
					row := m.firstRow + j
					if !s.IsErased(row) && erase(s.meta.FirstSeq+int64(row)) {
						kill = append(kill, j)
					}
				}
			}
			nm := m
			nm.firstRow += rowBase
			if len(kill) == 0 {
				switch {
				case m.compLen == 0:
					out.header()
					nm.off = out.off
				case s.foot.version == version && out.cipher == nil:
					comp, err := s.readChunk(ci, &buf)
					if err != nil {
						return Meta{}, err
					}
					out.header()
					nm.off = out.off
					out.write(comp)
				default:
					// Sealed units are bound to their place: open and
					// seal again, under the output's current key.
					comp, err := s.chunkBytes(ci, &buf, &plain)
					if err != nil {
						return Meta{}, err
					}
					nm = out.writeUnit(nm, len(h.chunks), comp)
				}
			} else {
				if err := s.decodeChunk(ci, &dc); err != nil {
					return Meta{}, err
				}
				raw = raw[:0]
				k := 0
				for j := 0; j < m.rows; j++ {
					switch {
					case k < len(kill) && kill[k] == j:
						k++
						raw = append(raw, 0)
						killed = append(killed, uint32(nm.firstRow+j))
					case dc.gone[j]:
						raw = append(raw, 0)
					default:
						raw = binary.AppendUvarint(raw, uint64(dc.start[j+1]-dc.start[j])+1)
					}
				}
				for j := 0; j < m.rows; j++ {
					if !dc.gone[j] && !slices.Contains(kill, j) {
						raw = append(raw, dc.data[dc.start[j]:dc.start[j+1]]...)
					}
				}
				nm.erased += len(kill)
				if opts.Terms == nil {
					nm.flags |= flagUnindexed
					unindexed[uint32(len(h.chunks))] = true
				} else if nm.flags&flagUnindexed == 0 {
					reindexed[uint32(len(h.chunks))] = chunkTerms(&dc, kill, opts.Terms)
				}
				nm = out.writeChunk(nm, len(h.chunks), raw, &scratch)
			}
			if out.err != nil {
				return Meta{}, out.err
			}
			h.chunks = append(h.chunks, nm)
		}
		for _, e := range s.erased {
			h.erased = append(h.erased, e+uint32(rowBase))
		}
		rowBase += s.meta.Rows
	}
	h.erased = Union(h.erased, killed)
	isKilled := func(row uint32) bool { _, ok := slices.BinarySearch(killed, row); return ok }

	fields, err := mergeFields(srcs, isKilled, func(field, key string, chunk uint32) bool {
		if terms, ok := reindexed[chunk]; ok {
			return terms[[2]string{field, key}]
		}
		return !unindexed[chunk]
	})
	if err != nil {
		return Meta{}, err
	}
	out.finish(&h, fields, nil)
	if out.err != nil {
		return Meta{}, out.err
	}
	return metaOf(&h, out.off), nil
}

// chunkTerms returns the chunk-level index entries of the live rows of dc
// but those in kill.
func chunkTerms(dc *decodedChunk, kill []int, terms func([]byte, func(field, key string))) map[[2]string]bool {
	set := map[[2]string]bool{}
	add := func(field, key string) {
		if ChunkLevel(field) {
			set[[2]string{field, key}] = true
		}
	}
	for j := range dc.gone {
		if !dc.gone[j] && !slices.Contains(kill, j) {
			terms(dc.data[dc.start[j]:dc.start[j+1]:dc.start[j+1]], add)
		}
	}
	return set
}

// mergeFields encodes the merged dictionaries of srcs, dropping the rows
// that are killed and the chunk-level entries keep rejects.
func mergeFields(srcs []*Reader, killed func(row uint32) bool, keep func(field, key string, chunk uint32) bool) ([]byte, error) {
	var names []string
	for _, s := range srcs {
		for _, f := range s.fields {
			names = append(names, f.name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)

	type cursor struct {
		it        dictIter
		ok        bool // it holds an entry not merged yet
		rowBase   uint32
		chunkBase uint32
	}
	buf := binary.AppendUvarint(nil, uint64(len(names)))
	var fe fieldEncoder
	var vals []uint32
	curs := make([]cursor, len(srcs))
	for _, name := range names {
		kind := uint64(kindRows)
		if ChunkLevel(name) {
			kind = kindChunks
		}
		rowBase, chunkBase := 0, 0
		for i, s := range srcs {
			curs[i] = cursor{rowBase: uint32(rowBase), chunkBase: uint32(chunkBase)}
			if f := s.field(name); f != nil {
				if f.kind != kind {
					return nil, fmt.Errorf("block: merge: field %q of %s has kind %d, want %d", name, s.name, f.kind, kind)
				}
				curs[i].it = f.iter()
				curs[i].ok = curs[i].it.next()
			}
			rowBase += s.meta.Rows
			chunkBase += len(s.chunks)
		}
		fe.reset(name, kind)
		for {
			key, found := "", false
			for i := range curs {
				c := &curs[i]
				if c.ok && (!found || c.it.key < key) {
					key, found = c.it.key, true
				}
			}
			if !found {
				break
			}
			vals = vals[:0]
			for i := range curs {
				c := &curs[i]
				if !c.ok || c.it.key != key {
					continue
				}
				shift := c.rowBase
				if kind == kindChunks {
					shift = c.chunkBase
				}
				n := len(vals)
				vals = appendDecodedPostings(vals, c.it.post, shift)
				kept := vals[:n]
				for _, v := range vals[n:] {
					if (kind == kindRows && !killed(v)) || (kind == kindChunks && keep(name, key, v)) {
						kept = append(kept, v)
					}
				}
				vals = kept
				c.ok = c.it.next()
			}
			if len(vals) > 0 {
				fe.add(key, vals)
			}
		}
		buf = fe.appendTo(buf)
	}
	return buf, nil
}
