package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"

	trail "github.com/trail-audit/trail"
)

// ingestAnswer is the part of the 201 answer of POST /v1/events that the
// bench checks.
type ingestAnswer struct {
	Receipts []trail.Receipt `json:"receipts"`
}

// decodeReceipts decodes the 201 answer of an ingest into its receipts,
// as json.NewDecoder(…).Decode into an ingestAnswer does (and with the same
// result). The bench client shares the machine's cores with the server it
// measures, so the answer in the exact form the server writes (see
// api/encode.go: fixed key order, strings of printable ASCII without
// escapes) is parsed directly; any other form goes to encoding/json.
func decodeReceipts(body []byte) ([]trail.Receipt, error) {
	if rs, ok := parseReceipts(body); ok {
		return rs, nil
	}
	var out ingestAnswer
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil {
		return nil, err
	}
	return out.Receipts, nil
}

// receiptParser is a cursor over an ingest answer in the server's form.
type receiptParser struct {
	b   []byte
	off int
	b64 *base64.Encoding // strict standard base64, as trail.Hash.UnmarshalText decodes
}

// parseReceipts parses body when it is exactly
// {"receipts":[R,…],"checkpoints":{…}} followed by whitespace, each R
// {"id":S,"seq":N,"tenant":S,"leaf_hash":H} with, in this order, an
// optional "duplicate":true and an optional
// "inclusion":{"leaf_index":N,"tree_size":N,"hashes":[H,…]}. S is a string
// of printable ASCII without escapes, N an integer in the JSON grammar, H
// a string trail.Hash.UnmarshalText accepts, and the checkpoints any valid
// JSON object. ok is false for anything else.
func parseReceipts(body []byte) (rs []trail.Receipt, ok bool) {
	p := &receiptParser{b: body, b64: base64.StdEncoding.Strict()}
	if !p.lit(`{"receipts":[`) {
		return nil, false
	}
	rs = []trail.Receipt{}
	if !p.lit("]") {
		for {
			var r trail.Receipt
			if !p.receipt(&r) {
				return nil, false
			}
			rs = append(rs, r)
			if p.lit("]") {
				break
			}
			if !p.lit(",") {
				return nil, false
			}
		}
	}
	if !p.lit(`,"checkpoints":`) {
		return nil, false
	}
	// The checkpoints object, then the closing brace and whitespace.
	rest := bytes.TrimRight(body[p.off:], " \t\r\n")
	if len(rest) < 3 || rest[0] != '{' || rest[len(rest)-1] != '}' || !json.Valid(rest[:len(rest)-1]) {
		return nil, false
	}
	return rs, true
}

func (p *receiptParser) receipt(r *trail.Receipt) bool {
	if !p.lit(`{"id":`) || !p.str(&r.ID) || !p.lit(`,"seq":`) || !p.int(&r.Seq) ||
		!p.lit(`,"tenant":`) || !p.str(&r.Tenant) || !p.lit(`,"leaf_hash":`) || !p.hash(&r.LeafHash) {
		return false
	}
	if p.lit(`,"duplicate":true`) {
		r.Duplicate = true
	}
	if p.lit(`,"inclusion":{"leaf_index":`) {
		in := &trail.InclusionProof{Hashes: []trail.Hash{}}
		if !p.int(&in.LeafIndex) || !p.lit(`,"tree_size":`) || !p.int(&in.TreeSize) || !p.lit(`,"hashes":[`) {
			return false
		}
		if end := bytes.IndexByte(p.b[p.off:], ']'); end > 0 {
			in.Hashes = make([]trail.Hash, 0, end/47+1) // "<44 characters>",
		}
		if !p.lit("]") {
			for {
				var h trail.Hash
				if !p.hash(&h) {
					return false
				}
				in.Hashes = append(in.Hashes, h)
				if p.lit("]") {
					break
				}
				if !p.lit(",") {
					return false
				}
			}
		}
		if !p.lit("}") {
			return false
		}
		r.Inclusion = in
	}
	return p.lit("}")
}

// lit moves past s if the input continues with it.
func (p *receiptParser) lit(s string) bool {
	if !bytes.HasPrefix(p.b[p.off:], []byte(s)) {
		return false
	}
	p.off += len(s)
	return true
}

// rawStr moves past a string of printable ASCII without escapes and
// returns its contents.
func (p *receiptParser) rawStr() ([]byte, bool) {
	if p.off >= len(p.b) || p.b[p.off] != '"' {
		return nil, false
	}
	for i := p.off + 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			s := p.b[p.off+1 : i]
			p.off = i + 1
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (p *receiptParser) str(s *string) bool {
	raw, ok := p.rawStr()
	*s = string(raw)
	return ok
}

// hash moves past a string that trail.Hash.UnmarshalText accepts, strict
// standard base64 of exactly 32 bytes, and decodes it as that would.
func (p *receiptParser) hash(h *trail.Hash) bool {
	raw, ok := p.rawStr()
	if !ok || len(raw) != p.b64.EncodedLen(len(h)) {
		return false
	}
	var buf [33]byte // room for the decoder to write past 32 bytes before it fails
	n, err := p.b64.Decode(buf[:], raw)
	if err != nil || n != len(h) {
		return false
	}
	copy(h[:], buf[:n])
	return true
}

// int moves past an integer, -?(0|[1-9][0-9]*), that fits an int64 and
// is not followed by a fraction or exponent.
func (p *receiptParser) int(n *int64) bool {
	start, i := p.off, p.off
	if i < len(p.b) && p.b[i] == '-' {
		i++
	}
	digits := i
	for i < len(p.b) && '0' <= p.b[i] && p.b[i] <= '9' {
		i++
	}
	if i == digits || p.b[digits] == '0' && i > digits+1 {
		return false
	}
	if i < len(p.b) && (p.b[i] == '.' || p.b[i] == 'e' || p.b[i] == 'E') {
		return false
	}
	v, err := strconv.ParseInt(string(p.b[start:i]), 10, 64)
	if err != nil {
		return false
	}
	*n, p.off = v, i
	return true
}
