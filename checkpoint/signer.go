package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"golang.org/x/mod/sumdb/note"
)

// Signer is an Ed25519 note signer that also signs many checkpoints at
// once for less CPU than signing each ([SignAll]). It implements
// note.Signer, and its signatures are the ones ed25519.Sign makes, byte
// for byte (Ed25519 signing is deterministic, RFC 8032 §5.1.6).
//
// Why: a store signs one checkpoint per tenant per commit, and with many
// tenants and small commits that was the largest single cost of an
// acknowledged event. Of an Ed25519 signature's cost about a third is the
// field inversion that encodes the nonce point R; SignAll computes every R
// of a batch in projective coordinates and inverts their Z coordinates
// together (Montgomery's trick: one inversion and three multiplications
// per signature), so a batch of n costs about n scalar base
// multiplications and one inversion.
//
// A Signer is safe for concurrent use.
type Signer struct {
	name   string
	hash   uint32
	priv   ed25519.PrivateKey
	pub    []byte              // priv's public key, 32 bytes
	s      edwards25519.Scalar // the secret scalar: clamp(SHA-512(seed)[:32])
	prefix [32]byte            // SHA-512(seed)[32:], the nonce key
}

// NewSigner decodes an encoded Ed25519 signer key
// ("PRIVATE+KEY+<name>+<hash>+<key>", as [GenerateKey] returns it). It
// accepts exactly the keys note.NewSigner accepts; that checks the name, so
// every note a Signer makes has a valid signature line.
func NewSigner(signerKey string) (*Signer, error) {
	ns, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, err
	}
	seed, err := signerSeed(signerKey)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	h := sha512.Sum512(seed)
	k := &Signer{name: ns.Name(), hash: ns.KeyHash(), priv: priv, pub: priv[ed25519.SeedSize:]}
	if _, err := k.s.SetBytesWithClamping(h[:32]); err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	copy(k.prefix[:], h[32:])
	return k, nil
}

// signerSeed returns the 32-byte seed of a signer key note.NewSigner
// accepted: PRIVATE+KEY+<name>+<hash>+<key>, where <key> is
// base64(alg ‖ seed) and may itself contain '+', so exactly the first four
// fields are split off.
func signerSeed(signerKey string) ([]byte, error) {
	fields := strings.SplitN(signerKey, "+", 5)
	if len(fields) != 5 {
		return nil, errors.New("not an Ed25519 signer key")
	}
	key, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != algEd25519 {
		return nil, errors.New("not an Ed25519 signer key")
	}
	return key[1:], nil
}

// algEd25519 is the note package's algorithm byte for Ed25519 keys.
const algEd25519 = 1

// Name returns the key's name (note.Signer).
func (k *Signer) Name() string { return k.name }

// KeyHash returns the key's hash (note.Signer).
func (k *Signer) KeyHash() uint32 { return k.hash }

// Sign returns the Ed25519 signature of msg (note.Signer).
func (k *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(k.priv, msg), nil }

// SignAll returns the signed notes of cs, in order, each as [Sign] would
// return it. With a *[Signer] it signs them as a batch (see [Signer]);
// with any other note.Signer it signs them one by one. It fails, signing
// none, if any checkpoint is invalid (the error names its index) or if s
// fails.
func SignAll(cs []Checkpoint, s note.Signer) ([][]byte, error) {
	k, ok := s.(*Signer)
	if !ok {
		out := make([][]byte, len(cs))
		for i, c := range cs {
			msg, err := Sign(c, s)
			if err != nil {
				return nil, fmt.Errorf("checkpoint %d: %w", i, err)
			}
			out[i] = msg
		}
		return out, nil
	}
	bodies := make([][]byte, len(cs))
	for i, c := range cs {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("sign checkpoint %d: %w", i, err)
		}
		bodies[i] = c.Body()
	}
	sigs := k.signBatch(bodies)
	out := make([][]byte, len(cs))
	for i, body := range bodies {
		out[i] = k.appendNote(make([]byte, 0, len(body)+len(k.name)+110), body, sigs[i])
	}
	return out, nil
}

// appendNote appends the signed note of body, with sig as its one
// signature, in note.Sign's form: the text, a blank line, and
// "— <name> <base64(key hash ‖ signature)>\n".
func (k *Signer) appendNote(dst, body []byte, sig []byte) []byte {
	var blob [4 + ed25519.SignatureSize]byte
	binary.BigEndian.PutUint32(blob[:4], k.hash)
	copy(blob[4:], sig)
	dst = append(dst, body...)
	dst = append(dst, "\n— "...)
	dst = append(dst, k.name...)
	dst = append(dst, ' ')
	dst = base64.StdEncoding.AppendEncode(dst, blob[:])
	return append(dst, '\n')
}

// signBatch returns the Ed25519 signatures of msgs (RFC 8032 §5.1.6),
// inverting the nonce points' Z coordinates together.
func (k *Signer) signBatch(msgs [][]byte) [][]byte {
	n := len(msgs)
	rs := make([]edwards25519.Scalar, n)
	xs, ys, zs := make([]field.Element, n), make([]field.Element, n), make([]field.Element, n)
	var digest [sha512.Size]byte
	var R edwards25519.Point
	for i, m := range msgs {
		// r = SHA-512(prefix ‖ M) mod L; R = rB, kept as (X:Y:Z).
		h := sha512.New()
		h.Write(k.prefix[:])
		h.Write(m)
		if _, err := rs[i].SetUniformBytes(h.Sum(digest[:0])); err != nil {
			panic("checkpoint: SHA-512 output is not 64 bytes") // cannot happen
		}
		X, Y, Z, _ := R.ScalarBaseMult(&rs[i]).ExtendedCoordinates()
		xs[i], ys[i], zs[i] = *X, *Y, *Z
	}
	// Montgomery's trick: pre[i] = Z0·…·Z(i-1); inv = 1/(Z0·…·Z(n-1));
	// then walking back, 1/Zi = inv·pre[i] and inv ·= Zi.
	pre := make([]field.Element, n)
	var acc field.Element
	acc.One()
	for i := range zs {
		pre[i] = acc
		acc.Multiply(&acc, &zs[i])
	}
	var inv field.Element
	inv.Invert(&acc)
	encR := make([][32]byte, n)
	for i := n - 1; i >= 0; i-- {
		// R's encoding, as Point.Bytes makes it: y = Y/Z, with the sign
		// of x = X/Z in the top bit.
		var zInv, x, y field.Element
		zInv.Multiply(&inv, &pre[i])
		inv.Multiply(&inv, &zs[i])
		x.Multiply(&xs[i], &zInv)
		y.Multiply(&ys[i], &zInv)
		copy(encR[i][:], y.Bytes())
		encR[i][31] |= byte(x.IsNegative() << 7)
	}
	sigs := make([][]byte, n)
	for i, m := range msgs {
		// k = SHA-512(R ‖ A ‖ M) mod L; S = k·s + r.
		h := sha512.New()
		h.Write(encR[i][:])
		h.Write(k.pub)
		h.Write(m)
		var kh, S edwards25519.Scalar
		if _, err := kh.SetUniformBytes(h.Sum(digest[:0])); err != nil {
			panic("checkpoint: SHA-512 output is not 64 bytes") // cannot happen
		}
		S.MultiplyAdd(&kh, &k.s, &rs[i])
		sig := make([]byte, ed25519.SignatureSize)
		copy(sig, encR[i][:])
		copy(sig[32:], S.Bytes())
		sigs[i] = sig
	}
	return sigs
}
