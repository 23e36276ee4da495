package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trail-audit/trail"
)

// MinKeyLen is the shortest tenant key New accepts when a rule hashes.
const MinKeyLen = 16

// Masker applies one tenant's compiled masking rules. It is immutable and
// safe for concurrent use; compile it once per tenant and settings change
// with New and share it.
type Masker struct {
	cfg   Config
	det   [numDetectors]act // actNone: off
	on    detSet            // detectors with an action
	paths []pathRule
	key   []byte
	pool  sync.Pool // of hash.Hash keyed with key
	// walkers holds *walker, the state of one Apply.
	walkers sync.Pool
}

// ErrNoKey is returned by New when a rule hashes and the tenant key is
// shorter than MinKeyLen. It is a wiring error, not the client's.
var ErrNoKey = errors.New("mask: hmac rules need a tenant key of at least 16 bytes")

// New validates cfg (see Config.Validate) and compiles it with the
// tenant's HMAC key. The key must be secret, random and stable: it is
// needed again to search hashed values (SearchValue), and a new key makes
// new hashes for the same values. New copies key. It returns the
// EINVALID *trail.Error of Validate, or ErrNoKey when an hmac rule is in
// effect (the email detector hashes by default) and len(key) < MinKeyLen.
func New(cfg Config, key []byte) (*Masker, error) {
	c, err := compileRules(cfg)
	if err != nil {
		return nil, err
	}
	m := &Masker{cfg: cloneConfig(cfg), det: c.det, paths: c.paths}
	hashes := false
	for d, a := range m.det {
		if a != actNone {
			m.on |= 1 << d
		}
		hashes = hashes || a == actHMAC
	}
	for _, p := range m.paths {
		hashes = hashes || p.act == actHMAC
	}
	if hashes && len(key) < MinKeyLen {
		return nil, ErrNoKey
	}
	m.key = slices.Clone(key)
	m.pool.New = func() any { return hmac.New(sha256.New, m.key) }
	return m, nil
}

func cloneConfig(c Config) Config {
	if c.Defaults != nil {
		d := *c.Defaults
		c.Defaults = &d
	}
	c.Rules = slices.Clone(c.Rules)
	return c
}

// Config returns the configuration m was compiled from.
func (m *Masker) Config() Config { return cloneConfig(m.cfg) }

// HMAC returns the form in which ActionHMAC stores value for a tenant
// with key key: "hmac:" followed by the unpadded base64url encoding of the
// first 16 bytes of HMAC-SHA256(key, value), 27 characters in all.
// Detected e-mail addresses are hashed in lower case (with "%40" read as
// "@"), so that the address is found whatever its case.
func HMAC(key []byte, value string) string {
	h := hmac.New(sha256.New, key)
	io.WriteString(h, value)
	return hmacString(h)
}

const hmacPrefix = "hmac:"

func hmacString(h hash.Hash) string {
	var sum [sha256.Size]byte
	var out [len(hmacPrefix) + 22]byte
	copy(out[:], hmacPrefix)
	base64.RawURLEncoding.Encode(out[len(hmacPrefix):], h.Sum(sum[:0])[:16])
	return string(out[:])
}

func (m *Masker) hmac(value string) string {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	io.WriteString(h, value)
	s := hmacString(h)
	m.pool.Put(h)
	return s
}

// isHMAC reports whether s is already in the form HMAC returns; hashing
// skips such values so that masking is idempotent.
func isHMAC(s string) bool {
	if len(s) != len(hmacPrefix)+22 || !strings.HasPrefix(s, hmacPrefix) {
		return false
	}
	for i := len(hmacPrefix); i < len(s); i++ {
		if !is(s[i], cB64URL) {
			return false
		}
	}
	return true
}

// isPartial reports whether s is already in the form ActionPartial writes.
func isPartial(s string) bool {
	return strings.HasPrefix(s, PartialPrefix) && utf8.RuneCountInString(s) <= len(PartialPrefix)+4
}

// partial keeps the last four characters of s when s has at least 12.
func partial(s string) string {
	if isPartial(s) {
		return s
	}
	n := utf8.RuneCountInString(s)
	if n < 12 {
		return PartialPrefix
	}
	i := len(s)
	for k := 0; k < 4; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return PartialPrefix + s[i:]
}

// Where a string of the event sits decides which detectors look at it.
const (
	// identity fields name who acted: the e-mail and ip detectors skip them.
	identityDetectors = allDetectors &^ (1<<dEmail | 1<<dIP)
)

// Field length limits of trail's Validate: a masked string that would
// exceed its field's limit (hashes are longer than short e-mails) is
// redacted whole instead.
const (
	nameLimit = 1024
	textLimit = 8192
	pathLimit = 1024 // of an entry of Event.Masked
)

// Apply masks e in place and adds the JSON paths of the values it changed
// (or removed) to e.Masked, sorted and without duplicates. It never fails
// and is idempotent: applying the same Masker twice changes nothing the
// second time. Call it on every event after (*trail.Event).Normalize and
// Validate and before AppendCanonical; a masked valid event stays valid,
// but hashing can lengthen it, so check the size (trail.CheckSize) on the
// leaf made after masking.
//
// Apply looks at every client-set string that can hold a secret:
// actor.id, actor.name, actor.email, resource.id, resource.name,
// source.user_agent, request.id, request.path, reason, changes[].old and
// changes[].new (any JSON), and metadata (any JSON, any depth); and at
// source.ip with the ip detector only. action, actor.type, resource.type,
// source.origin, request.method and changes[].field are never changed.
// The e-mail and ip detectors skip actor.id and actor.email, which say who
// acted; a path rule still masks them. A dropped actor.id, which is
// required, is redacted instead; source.ip, which must stay an address,
// is truncated by partial and removed by every other action.
func (m *Masker) Apply(e *trail.Event) {
	w := m.walker()
	defer m.walkers.Put(w)
	e.Actor.ID = w.field(e.Actor.ID, "actor", "id", identityDetectors, nameLimit, true)
	e.Actor.Name = w.field(e.Actor.Name, "actor", "name", allDetectors, nameLimit, false)
	e.Actor.Email = w.field(e.Actor.Email, "actor", "email", identityDetectors, nameLimit, false)
	if r := e.Resource; r != nil {
		r.ID = w.field(r.ID, "resource", "id", allDetectors, nameLimit, false)
		r.Name = w.field(r.Name, "resource", "name", allDetectors, nameLimit, false)
	}
	if s := e.Source; s != nil {
		s.IP = w.sourceIP(s.IP)
		s.UserAgent = w.field(s.UserAgent, "source", "user_agent", allDetectors, textLimit, false)
	}
	if r := e.Request; r != nil {
		r.ID = w.field(r.ID, "request", "id", allDetectors, nameLimit, false)
		r.Path = w.field(r.Path, "request", "path", allDetectors, textLimit, false)
	}
	e.Reason = w.field(e.Reason, "reason", "", allDetectors, textLimit, false)
	for i := range e.Changes {
		w.change(&e.Changes[i], i)
	}
	if len(e.Metadata) > 0 {
		live, _ := w.m.matchRules(w.m.allRules(), 0, "metadata")
		w.push("metadata", -1)
		w.object(e.Metadata, live, 1)
		w.pop()
	}
	if len(w.masked) > 0 {
		all := append(slices.Clip(e.Masked), w.masked...)
		slices.Sort(all)
		e.Masked = slices.Compact(all)
	}
}

// walker returns a walker from the pool, reset.
func (m *Masker) walker() *walker {
	w, _ := m.walkers.Get().(*walker)
	if w == nil {
		w = &walker{m: m}
	}
	w.stack = w.stackBuf[:0]
	w.matches = w.matchBuf[:0]
	clear(w.masked)
	w.masked = w.masked[:0]
	w.awsID = false
	return w
}

// walker is the state of one Apply.
type walker struct {
	m        *Masker
	stack    []pathElem
	masked   []string
	matches  []match
	stackBuf [16]pathElem
	matchBuf [8]match
	awsID    bool // a string just walked held an AWS access key id
}

// pathElem is one step of the path to the value being walked: an object
// key, or an array index when index >= 0.
type pathElem struct {
	key   string
	index int
}

func (w *walker) push(key string, index int) { w.stack = append(w.stack, pathElem{key, index}) }
func (w *walker) pop()                       { w.stack = w.stack[:len(w.stack)-1] }

// record adds the current path to the masked paths.
func (w *walker) record() {
	w.masked = append(w.masked, formatPath(w.stack))
}

// allRules is the set of every path rule, as a bit mask.
func (m *Masker) allRules() uint64 {
	if len(m.paths) == 64 {
		return ^uint64(0)
	}
	return 1<<len(m.paths) - 1
}

// matchRules advances the rules in live past the key at segment depth:
// it returns the rules that can still match deeper, and the first rule
// that ends here, or -1.
func (m *Masker) matchRules(live uint64, depth int, key string) (next uint64, hit int) {
	hit = -1
	for live != 0 {
		i := trailingZeros(live)
		live &^= 1 << i
		segs := m.paths[i].segs
		if depth >= len(segs) || segs[depth] != key && segs[depth] != "*" {
			continue
		}
		if depth == len(segs)-1 {
			if hit < 0 {
				hit = i
			}
			continue
		}
		next |= 1 << i
	}
	return next, hit
}

func trailingZeros(x uint64) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}

// field masks one string field of the event, at path a.b (or a when b is
// empty).
func (w *walker) field(s, a, b string, dets detSet, limit int, required bool) string {
	if s == "" {
		return s
	}
	hit := -1
	if len(w.m.paths) > 0 {
		var live uint64
		live, hit = w.m.matchRules(w.m.allRules(), 0, a)
		if b != "" && hit < 0 {
			_, hit = w.m.matchRules(live, 1, b)
		}
	}
	w.push(a, -1)
	if b != "" {
		w.push(b, -1)
	}
	defer func() {
		w.pop()
		if b != "" {
			w.pop()
		}
	}()
	var out string
	var drop, changed bool
	if hit >= 0 {
		var v any
		v, drop, changed = w.whole(s, w.m.paths[hit].act)
		out, _ = v.(string)
	} else {
		out, drop, changed = w.text(s, dets)
	}
	if !changed {
		return s
	}
	w.record()
	switch {
	case drop && required:
		return Redacted
	case drop:
		return ""
	case len(out) > limit:
		return Redacted
	}
	return out
}

// sourceIP masks source.ip, which must stay an address or be removed.
func (w *walker) sourceIP(ip string) string {
	if ip == "" {
		return ip
	}
	a := w.m.det[dIP]
	if len(w.m.paths) > 0 {
		live, _ := w.m.matchRules(w.m.allRules(), 0, "source")
		if _, hit := w.m.matchRules(live, 1, "ip"); hit >= 0 {
			a = w.m.paths[hit].act
		}
	}
	out := ip
	switch a {
	case actNone, actKeep:
		return ip
	case actPartial:
		if t, ok := truncateIP(ip); ok {
			out = t
		} else {
			out = ""
		}
	default:
		out = ""
	}
	if out != ip {
		w.push("source", -1)
		w.push("ip", -1)
		w.record()
		w.pop()
		w.pop()
	}
	return out
}

func (w *walker) change(c *trail.Change, i int) {
	secret := w.m.det[dKeyName] != actNone && secretKey(c.Field)
	var live uint64
	if len(w.m.paths) > 0 {
		live, _ = w.m.matchRules(w.m.allRules(), 0, "changes")
	}
	w.push("changes", -1)
	w.push("", i)
	c.Old = w.changeValue(c.Old, "old", live, secret)
	c.New = w.changeValue(c.New, "new", live, secret)
	w.pop()
	w.pop()
}

func (w *walker) changeValue(v any, name string, live uint64, secret bool) any {
	if v == nil {
		return nil
	}
	hit := -1
	if live != 0 {
		live, hit = w.m.matchRules(live, 1, name)
	}
	w.push(name, -1)
	out, drop := w.node(v, live, 2, hit, secret)
	w.pop()
	if drop {
		return nil
	}
	return out
}

// node masks the value v at the current path: by the path rule hit, else
// as a secret when its key is secret, else by looking inside it. live
// holds the path rules that may match below, at segment depth. It records
// the path when it changes something there.
func (w *walker) node(v any, live uint64, depth int, hit int, secret bool) (any, bool) {
	if hit >= 0 || secret {
		a := w.m.det[dKeyName]
		if hit >= 0 {
			a = w.m.paths[hit].act
		}
		out, drop, changed := w.whole(v, a)
		if changed {
			w.record()
		}
		return out, drop
	}
	switch t := v.(type) {
	case string:
		out, drop, changed := w.text(t, allDetectors)
		if changed {
			w.record()
		}
		return out, drop
	case float64:
		if w.m.det[dCard] != actNone && t >= 1e11 && t < 1e16 && t == float64(int64(t)) {
			return w.cardNumber(v, strconv.FormatInt(int64(t), 10))
		}
	case json.Number:
		if w.m.det[dCard] != actNone && len(t) >= 12 && len(t) <= 19 {
			return w.cardNumber(v, string(t))
		}
	case int:
		if w.m.det[dCard] != actNone && t >= 1e11 {
			return w.cardNumber(v, strconv.Itoa(t))
		}
	case int64:
		if w.m.det[dCard] != actNone && t >= 1e11 {
			return w.cardNumber(v, strconv.FormatInt(t, 10))
		}
	case map[string]any:
		w.object(t, live, depth)
	case []any:
		if out := w.array(t, live, depth); len(out) != len(t) {
			return out, false
		}
	}
	return v, false
}

// cardNumber masks a JSON number whose digits are a card number.
func (w *walker) cardNumber(v any, digits string) (any, bool) {
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return v, false
		}
	}
	if len(digits) < 13 || len(digits) > 19 || !cardNumber([]byte(digits)) {
		return v, false
	}
	out, drop, changed := w.whole(digits, w.m.det[dCard])
	if !changed {
		return v, false
	}
	w.record()
	return out, drop
}

func (w *walker) object(obj map[string]any, live uint64, depth int) {
	keyNames := w.m.det[dKeyName] != actNone
	awsID := false
	for k, v := range obj {
		childLive, hit := live, -1
		if live != 0 {
			childLive, hit = w.m.matchRules(live, depth, k)
		}
		w.push(k, -1)
		w.awsID = false
		out, drop := w.node(v, childLive, depth+1, hit, keyNames && hit < 0 && secretKey(k))
		awsID = awsID || w.awsID
		if drop {
			delete(obj, k)
		} else if changedValue(v, out) {
			obj[k] = out
		}
		w.pop()
	}
	w.awsID = false
	if awsID && w.m.det[dAccessKey] != actNone {
		// An AWS secret access key next to its key id.
		for k, v := range obj {
			s, ok := v.(string)
			if !ok || len(s) != 40 || runOf(s, 0, cB64Std) != 40 || !awsSecretShape(s) {
				continue
			}
			w.push(k, -1)
			out, drop, changed := w.whole(s, w.m.det[dAccessKey])
			if changed {
				w.record()
				if drop {
					delete(obj, k)
				} else {
					obj[k] = out
				}
			}
			w.pop()
		}
	}
}

// changedValue reports whether out replaced v. Objects are masked in
// place and compare as unchanged; arrays too unless elements were dropped.
func changedValue(v, out any) bool {
	switch t := out.(type) {
	case map[string]any:
		return false
	case []any:
		old, ok := v.([]any)
		return !ok || len(old) != len(t) // an array loses dropped elements
	case string:
		s, ok := v.(string)
		return !ok || s != t
	}
	return true
}

func (w *walker) array(arr []any, live uint64, depth int) []any {
	kept := arr[:0:0]
	dropped := false
	for i, x := range arr {
		w.push("", i)
		out, drop := w.node(x, live, depth, -1, false)
		w.pop()
		if drop {
			if !dropped {
				kept = append(kept, arr[:i]...)
				dropped = true
			}
			continue
		}
		if changedValue(x, out) {
			arr[i] = out
		}
		if dropped {
			kept = append(kept, arr[i])
		}
	}
	if dropped {
		return kept
	}
	return arr
}

// whole applies action a to the whole value v. It reports whether the
// value is to be removed, and whether it changed.
func (w *walker) whole(v any, a act) (out any, drop, changed bool) {
	switch a {
	case actNone, actKeep:
		return v, false, false
	case actDrop:
		return nil, true, true
	}
	switch t := v.(type) {
	case nil:
		return nil, false, false // nothing to hide
	case string:
		var s string
		switch a {
		case actRedact:
			s = Redacted
		case actPartial:
			s = partial(t)
		case actHMAC:
			if isHMAC(t) {
				s = t
			} else {
				s = w.m.hmac(t)
			}
		}
		return s, false, s != t
	case map[string]any:
		if a == actRedact {
			return Redacted, false, true
		}
		changed := false
		for k, x := range t {
			out, _, c := w.whole(x, a)
			if c {
				t[k] = out
				changed = true
			}
		}
		return t, false, changed
	case []any:
		if a == actRedact {
			return Redacted, false, true
		}
		changed := false
		for i, x := range t {
			out, _, c := w.whole(x, a)
			if c {
				t[i] = out
				changed = true
			}
		}
		return t, false, changed
	case bool:
		if a == actHMAC {
			return w.m.hmac(strconv.FormatBool(t)), false, true
		}
		return Redacted, false, true
	default:
		if s, ok := trail.ScalarString(v); ok {
			out, _, _ := w.whole(s, a)
			return out, false, true
		}
		return Redacted, false, true
	}
}

// maxPasses bounds the rescans of a masked string; a string that still
// changes after them is redacted whole.
const maxPasses = 4

// text masks the secrets that the detectors dets find inside s. It
// reports whether s is to be removed (a drop matched all of it), and
// whether it changed. The result is rescanned until nothing more is found,
// so that masking is idempotent.
func (w *walker) text(s string, dets detSet) (out string, drop, changed bool) {
	out = s
	for pass := 0; ; pass++ {
		w.matches = w.m.scan(out, dets, w.matches[:0])
		if len(w.matches) == 0 {
			return out, false, out != s
		}
		if pass == maxPasses {
			return Redacted, false, true // still changing: give up on the parts
		}
		for _, mt := range w.matches {
			if mt.det == dAccessKey && strings.HasPrefix(out[mt.start:], "A") && mt.end-mt.start == 20 {
				w.awsID = true
			}
		}
		next, d := w.replace(out, w.matches)
		if d {
			return "", true, true
		}
		if next == out {
			return out, false, out != s
		}
		out = next
	}
}

// replace rewrites the matches of s (in order of start, possibly
// overlapping). When one match with action drop covers all of s it
// reports drop.
func (w *walker) replace(s string, ms []match) (string, bool) {
	// Merge overlapping matches; the more protective action wins.
	merged := ms[:1]
	for _, mt := range ms[1:] {
		last := &merged[len(merged)-1]
		if mt.start < last.end {
			last.end = max(last.end, mt.end)
			if mt.act.stronger(last.act) || mt.act == last.act && mt.det != last.det {
				last.act = mt.act
				last.det = mt.det
			}
			continue
		}
		merged = append(merged, mt)
	}
	if len(merged) == 1 && merged[0].start == 0 && merged[0].end == len(s) && merged[0].act == actDrop {
		return "", true
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	prev := 0
	for _, mt := range merged {
		b.WriteString(s[prev:mt.start])
		b.WriteString(w.replacement(s[mt.start:mt.end], mt))
		prev = mt.end
	}
	b.WriteString(s[prev:])
	return b.String(), false
}

// replacement is what a match of part becomes.
func (w *walker) replacement(part string, mt match) string {
	switch mt.act {
	case actDrop:
		return ""
	case actPartial:
		if mt.det == dIP {
			if t, ok := truncateIP(part); ok {
				return t
			}
			return Redacted
		}
		return partial(part)
	case actHMAC:
		if isHMAC(part) {
			return part
		}
		if mt.det == dEmail {
			part = strings.ToLower(strings.ReplaceAll(part, "%40", "@"))
		}
		return w.m.hmac(part)
	case actKeep, actNone:
		return part
	}
	return Redacted
}

// formatPath writes the path as in Event.Masked: keys joined with dots,
// array indexes in brackets ("changes[2].new", "metadata.items[0].card").
// A key that is empty or holds '.', '[', ']', '"', '\\', white space or a
// control character is written as a bracketed JSON string:
// metadata["a.b"]. A path longer than 1024 bytes is cut to its longest
// prefix of whole steps that fits.
func formatPath(stack []pathElem) string {
	var buf []byte
	for i, e := range stack {
		n := len(buf)
		switch {
		case e.index >= 0:
			buf = append(buf, '[')
			buf = strconv.AppendInt(buf, int64(e.index), 10)
			buf = append(buf, ']')
		case bareKey(e.key):
			if i > 0 {
				buf = append(buf, '.')
			}
			buf = append(buf, e.key...)
		default:
			buf = append(buf, '[')
			buf = appendJSONString(buf, e.key)
			buf = append(buf, ']')
		}
		if len(buf) > pathLimit {
			buf = buf[:n]
			break
		}
	}
	return string(buf)
}

func bareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '.' || c == '[' || c == ']' || c == '"' || c == '\\' || c <= ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

func appendJSONString(buf []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// SearchValue returns the form in which a string value equal to value is
// stored at the query field field, so that the query API can compare it
// with stored, masked events: an e-mail hashed by the email detector is
// found by searching for the address. Call it for every term value of a
// query (and for each word of a free-text phrase, field trail.FieldText)
// before the store runs it. field is a query field (trail.FieldActor,
// trail.FieldResourceID, trail.FieldRequestID, trail.FieldIP,
// trail.FieldText, "metadata.<key>…") or a JSON path of the event
// ("actor.email", "reason", "request.path", …). ok is false when such a
// value would have been removed, so that the term can match nothing.
// Values of other fields come back unchanged. Prefix terms cannot be
// matched against hashed values.
func (m *Masker) SearchValue(field, value string) (stored string, ok bool) {
	w := m.walker()
	defer m.walkers.Put(w)
	var segs []string
	dets := allDetectors
	switch field {
	case trail.FieldActor:
		segs, dets = []string{"actor", "id"}, identityDetectors
	case "actor.email":
		segs, dets = []string{"actor", "email"}, identityDetectors
	case trail.FieldResourceID:
		segs = []string{"resource", "id"}
	case trail.FieldRequestID:
		segs = []string{"request", "id"}
	case trail.FieldIP, "source.ip":
		out := w.sourceIP(value)
		return out, out != ""
	case trail.FieldText:
		out, drop, _ := w.text(value, allDetectors)
		return out, !drop
	case "actor.id", "actor.name", "resource.id", "resource.name", "source.user_agent",
		"request.id", "request.path", "reason":
		segs = strings.Split(field, ".")
		if segs[0] == "actor" && segs[1] == "id" {
			dets = identityDetectors
		}
	default:
		if !strings.HasPrefix(field, trail.MetadataPrefix) && !strings.HasPrefix(field, "changes.") {
			return value, true
		}
		segs = strings.Split(field, ".")
	}
	live, hit := m.allRules(), -1
	if len(m.paths) == 0 {
		live = 0
	}
	for i, s := range segs {
		if live == 0 {
			break
		}
		live, hit = m.matchRules(live, i, s)
		if hit >= 0 {
			break
		}
	}
	if hit >= 0 {
		out, drop, _ := w.whole(value, m.paths[hit].act)
		s, _ := out.(string)
		return s, !drop
	}
	switch segs[0] {
	case "metadata", "changes":
		last := segs[len(segs)-1]
		keyed := segs[0] == "metadata" && len(segs) >= 2 || len(segs) >= 3
		secret := m.det[dKeyName] != actNone && keyed && secretKey(last)
		out, drop := w.node(value, 0, 0, -1, secret)
		s, _ := out.(string)
		return s, !drop
	}
	out, drop, _ := w.text(value, dets)
	if drop && segs[0] == "actor" && segs[1] == "id" {
		return Redacted, true
	}
	return out, !drop
}
