package mask

import (
	"encoding/base64"
	"net/netip"
	"strings"
)

// match is one secret found inside a string: the bytes [start, end).
type match struct {
	start, end int
	det        uint8
	act        act
}

// detSet is a set of detector indexes.
type detSet uint16

func (s detSet) has(d int) bool { return s&(1<<d) != 0 }

const allDetectors detSet = 1<<numDetectors - 1

// Byte classes.
const (
	cAlpha = 1 << iota
	cDigit
	cB64URL  // A-Z a-z 0-9 _ -
	cB64Std  // A-Z a-z 0-9 + /
	cLocal   // e-mail local part: A-Z a-z 0-9 . _ % + -
	cKey     // a key in free text: A-Z a-z 0-9 _ . -
	cHex     // 0-9 a-f A-F
	cBearer  // a bearer token: A-Z a-z 0-9 - . _ ~ + / =
	cValEnd  // ends an unquoted value in free text
	cUpperAN // A-Z 0-9
)

var class [256]uint16

// Trigger kinds: what a byte may start.
const (
	tNone uint8 = iota
	tDigit
	tAt
	tPercent
	tEq
	tColon
	tDash
	tLetter
)

var trig [256]uint8

// tokenRule is a vendor token format: a fixed prefix and at least min
// bytes of a class after it.
type tokenRule struct {
	prefix string
	min    int
	max    int    // 0: no maximum
	cls    uint16 // class of the body
	aws    bool   // an AWS access key id: look for its secret key nearby
}

// cBody is a class for bodies with dots: base64url and '.'.
const cBody = cB64URL

var tokenRules = []tokenRule{
	{prefix: "AKIA", min: 16, max: 16, cls: cUpperAN, aws: true},
	{prefix: "ASIA", min: 16, max: 16, cls: cUpperAN, aws: true},
	{prefix: "AIza", min: 35, cls: cB64URL},
	{prefix: "ghp_", min: 30, cls: cAlpha | cDigit},
	{prefix: "gho_", min: 30, cls: cAlpha | cDigit},
	{prefix: "ghs_", min: 30, cls: cAlpha | cDigit},
	{prefix: "ghu_", min: 30, cls: cAlpha | cDigit},
	{prefix: "ghr_", min: 30, cls: cAlpha | cDigit},
	{prefix: "github_pat_", min: 40, cls: cB64URL},
	{prefix: "glpat-", min: 20, cls: cB64URL},
	{prefix: "gldt-", min: 20, cls: cB64URL},
	{prefix: "glrt-", min: 20, cls: cB64URL},
	{prefix: "glptt-", min: 20, cls: cB64URL},
	{prefix: "xoxb-", min: 10, cls: cB64URL},
	{prefix: "xoxp-", min: 10, cls: cB64URL},
	{prefix: "xoxa-", min: 10, cls: cB64URL},
	{prefix: "xoxr-", min: 10, cls: cB64URL},
	{prefix: "xoxs-", min: 10, cls: cB64URL},
	{prefix: "xoxe-", min: 10, cls: cB64URL},
	{prefix: "xapp-", min: 10, cls: cB64URL},
	{prefix: "sk_live_", min: 16, cls: cAlpha | cDigit},
	{prefix: "rk_live_", min: 16, cls: cAlpha | cDigit},
	{prefix: "sk_test_", min: 16, cls: cAlpha | cDigit},
	{prefix: "rk_test_", min: 16, cls: cAlpha | cDigit},
	{prefix: "whsec_", min: 16, cls: cB64Std},
	{prefix: "npm_", min: 36, cls: cAlpha | cDigit},
	{prefix: "trl_", min: 60, cls: cB64URL},
	{prefix: "ya29.", min: 20, cls: cBody | cBearer},
	{prefix: "GOCSPX-", min: 20, cls: cB64URL},
	{prefix: "SG.", min: 60, cls: cBody | cBearer},
	{prefix: "sk-proj-", min: 20, cls: cB64URL},
	{prefix: "sk-ant-", min: 20, cls: cB64URL},
	{prefix: "sk-svcacct-", min: 20, cls: cB64URL},
	{prefix: "sk-", min: 32, cls: cAlpha | cDigit},
	{prefix: "shpat_", min: 32, cls: cAlpha | cDigit},
	{prefix: "shpss_", min: 32, cls: cAlpha | cDigit},
	{prefix: "hooks.slack.com/services/", min: 10, cls: cAlpha | cDigit | cB64Std},
}

// tokenRulesByByte lists the token rules by the first byte of their prefix.
var tokenRulesByByte [256][]int

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var k uint16
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z':
			k |= cAlpha | cB64URL | cB64Std | cLocal | cKey | cBearer
			if 'A' <= b && b <= 'Z' {
				k |= cUpperAN
			}
			if 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' {
				k |= cHex
			}
		case '0' <= b && b <= '9':
			k |= cDigit | cB64URL | cB64Std | cLocal | cKey | cHex | cBearer | cUpperAN
		}
		switch b {
		case '_':
			k |= cB64URL | cLocal | cKey | cBearer
		case '-':
			k |= cB64URL | cLocal | cKey | cBearer
		case '+':
			k |= cB64Std | cLocal | cBearer
		case '/':
			k |= cB64Std | cBearer
		case '.':
			k |= cLocal | cKey | cBearer
		case '%':
			k |= cLocal
		case '~', '=':
			k |= cBearer
		case ' ', '\t', '\n', '\r', '\f', '\v', '&', ',', ';', '"', '\'', '<', '>', ')', '}', '`', '|':
			k |= cValEnd
		}
		class[c] = k
		switch {
		case '0' <= b && b <= '9':
			trig[c] = tDigit
		case b == '@':
			trig[c] = tAt
		case b == '%':
			trig[c] = tPercent
		case b == '=':
			trig[c] = tEq
		case b == ':':
			trig[c] = tColon
		case b == '-':
			trig[c] = tDash
		case b == 'e', b == 'B', b == 'b':
			trig[c] = tLetter
		}
	}
	for i, r := range tokenRules {
		c := r.prefix[0]
		tokenRulesByByte[c] = append(tokenRulesByByte[c], i)
		trig[c] = tLetter
	}
}

func is(c byte, k uint16) bool { return class[c]&k != 0 }

func isAlnum(c byte) bool { return class[c]&(cAlpha|cDigit) != 0 }

// runOf returns the end of the run of bytes of class k that starts at i.
func runOf(s string, i int, k uint16) int {
	for i < len(s) && class[s[i]]&k != 0 {
		i++
	}
	return i
}

// scan appends to out the secrets that the detectors in dets (and on in
// m) find in s, in order of their start.
func (m *Masker) scan(s string, dets detSet, out []match) []match {
	dets &= m.on
	if dets == 0 || len(s) < 5 {
		return out
	}
	first := len(out)
	awsID := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		t := trig[c]
		if t == tNone {
			continue
		}
		switch t {
		case tDigit:
			if i > 0 && isAlnum(s[i-1]) {
				continue
			}
			end := i
			if dets.has(dCard) {
				var mt match
				var ok bool
				mt, end, ok = cardAt(s, i)
				if ok {
					out = m.add(out, mt.start, mt.end, dCard)
				}
			}
			if dets.has(dIP) {
				if e, ok := ipv4At(s, i); ok {
					out = m.add(out, i, e, dIP)
					end = max(end, e)
				}
			}
			if end > i+1 {
				i = end - 1
			}
		case tAt:
			if dets.has(dEmail) {
				if st, e, ok := emailAt(s, i, 1); ok {
					out = m.add(out, st, e, dEmail)
					i = e - 1
				}
			}
		case tPercent:
			if dets.has(dEmail) && strings.HasPrefix(s[i:], "%40") {
				if st, e, ok := emailAt(s, i, 3); ok {
					out = m.add(out, st, e, dEmail)
					i = e - 1
				}
			}
		case tEq, tColon:
			if t == tColon && strings.HasPrefix(s[i:], "://") {
				if dets.has(dURLPassword) {
					if st, e, ok := urlPasswordAt(s, i); ok {
						out = m.add(out, st, e, dURLPassword)
					}
				}
				continue
			}
			if t == tColon && dets.has(dIP) {
				if st, e, ok := ipv6Around(s, i); ok {
					out = m.add(out, st, e, dIP)
					i = e - 1
					continue
				}
			}
			if t == tEq && dets.has(dAccessKey) && i+1 < len(s) && s[i+1] == '=' {
				if st, ok := azureKeyBefore(s, i); ok {
					out = m.add(out, st, i+2, dAccessKey)
					i++
					continue
				}
			}
			if dets&(1<<dKeyName|1<<dAccessKey) != 0 {
				if st, e, d, ok := keyValueAt(s, i); ok && dets.has(int(d)) {
					out = m.add(out, st, e, d)
					i = e - 1
				}
			}
		case tDash:
			if dets.has(dPrivateKey) && strings.HasPrefix(s[i:], "-----BEGIN ") {
				if e, ok := pemAt(s, i); ok {
					out = m.add(out, i, e, dPrivateKey)
					i = e - 1
				}
			}
		case tLetter:
			if i > 0 && isAlnum(s[i-1]) {
				continue
			}
			if c == 'e' {
				if dets.has(dJWT) && strings.HasPrefix(s[i:], "eyJ") && (i == 0 || !is(s[i-1], cB64URL) && s[i-1] != '.') {
					if e, ok := jwtAt(s, i); ok {
						out = m.add(out, i, e, dJWT)
						i = e - 1
					}
				}
				continue
			}
			if c == 'B' || c == 'b' {
				if dets.has(dBearer) {
					if st, e, ok := authSchemeAt(s, i); ok {
						out = m.add(out, st, e, dBearer)
						i = e - 1
						continue
					}
				}
			}
			if dets.has(dAccessKey) {
				for _, ri := range tokenRulesByByte[c] {
					r := &tokenRules[ri]
					if !strings.HasPrefix(s[i:], r.prefix) {
						continue
					}
					b := i + len(r.prefix)
					e := runOf(s, b, r.cls)
					n := e - b
					if n < r.min || r.max > 0 && n > r.max {
						continue
					}
					if r.max > 0 && e < len(s) && isAlnum(s[e]) {
						continue
					}
					out = m.add(out, i, e, dAccessKey)
					awsID = awsID || r.aws
					i = e - 1
					break
				}
			}
		}
	}
	if awsID {
		out = m.awsSecrets(s, out, first)
	}
	return out
}

// add appends a match of detector d with d's action.
func (m *Masker) add(out []match, start, end int, d uint8) []match {
	if start >= end {
		return out
	}
	return append(out, match{start: start, end: end, det: d, act: m.det[d]})
}

// awsSecrets adds the 40-character AWS secret access keys in s: runs of
// exactly 40 base64 characters with upper and lower case letters, found in
// a string that also holds an AWS access key id.
func (m *Masker) awsSecrets(s string, out []match, first int) []match {
	for i := 0; i < len(s); {
		if !is(s[i], cB64Std) {
			i++
			continue
		}
		e := runOf(s, i, cB64Std)
		if e-i == 40 && (i == 0 || s[i-1] != '=') && (e == len(s) || s[e] != '=') && awsSecretShape(s[i:e]) {
			out = m.add(out, i, e, dAccessKey)
		}
		i = e
	}
	// Keep matches in order of start.
	sortMatches(out[first:])
	return out
}

// awsSecretShape reports whether s (40 base64 characters) mixes upper and
// lower case letters, as random keys do and hex digests do not.
func awsSecretShape(s string) bool {
	var up, low bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		up = up || 'A' <= c && c <= 'Z'
		low = low || 'a' <= c && c <= 'z'
	}
	return up && low
}

func sortMatches(ms []match) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].start < ms[j-1].start; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// cardAt looks for a payment card number starting at the digit s[i]: 13 to
// 19 digits, in groups separated by single spaces or dashes, Luhn-valid,
// with the prefix and length of a card brand. It returns the end of the
// digit run it examined, so that the caller can skip it.
func cardAt(s string, i int) (match, int, bool) {
	// Collect the groups of the run.
	var groups [24][2]int
	ng := 0
	j := i
	for {
		k := j
		for k < len(s) && '0' <= s[k] && s[k] <= '9' {
			k++
		}
		if ng < len(groups) {
			groups[ng] = [2]int{j, k}
			ng++
		}
		j = k
		if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && '0' <= s[j+1] && s[j+1] <= '9' {
			j++
			continue
		}
		break
	}
	end := j
	a0 := 0
	if i > 0 {
		switch p := s[i-1]; {
		case p == '.' || p == '+' || p == ',' && i > 1 && '0' <= s[i-2] && s[i-2] <= '9':
			a0 = 1 // the first group ends a decimal or starts a phone number
		}
	}
	if end < len(s) && (isAlnum(s[end]) || s[end] == '.' && end+1 < len(s) && '0' <= s[end+1] && s[end+1] <= '9') {
		ng-- // the last group runs into a word or a decimal
	}
	var digits [19]byte
	for a := a0; a < ng; a++ {
		n := 0
		for b := a; b < ng; b++ {
			g := groups[b]
			if n+g[1]-g[0] > 19 {
				break
			}
			n += copy(digits[n:], s[g[0]:g[1]])
			if n >= 13 && cardNumber(digits[:n]) {
				return match{start: groups[a][0], end: groups[b][1]}, end, true
			}
		}
		if ng == 1 {
			break
		}
	}
	return match{}, end, false
}

// cardNumber reports whether d (13 to 19 digits) has a card brand's prefix
// and length and passes the Luhn check.
func cardNumber(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	ok := false
	switch d[0] {
	case '2':
		ok = n == 16 && p4 >= 2221 && p4 <= 2720 // Mastercard
	case '3':
		switch {
		case p2 == 34 || p2 == 37:
			ok = n == 15 // American Express
		case p2 == 35:
			ok = n >= 16 // JCB
		case p2 == 30 || p2 == 36 || p2 == 38 || p2 == 39:
			ok = n >= 14 // Diners Club
		}
	case '4':
		ok = n == 13 || n == 16 || n == 19 // Visa
	case '5':
		ok = p2 >= 51 && p2 <= 55 && n == 16 || p2 == 50 || p2 >= 56 // Mastercard, Maestro
	case '6':
		ok = n >= 16 // Discover, UnionPay, Maestro
	}
	if !ok {
		return false
	}
	sum := 0
	for i := n - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (n-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// fileExtensions are not top-level domains, though "logo@2x.png" looks
// like an address.
var fileExtensions = map[string]bool{"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true,
	"webp": true, "ico": true, "css": true, "js": true, "json": true, "txt": true, "log": true,
	"tar": true, "gz": true, "pdf": true, "html": true, "md": true, "yaml": true, "yml": true}

// emailAt looks for an e-mail address around the '@' (or "%40", width 3)
// at s[at].
func emailAt(s string, at, width int) (start, end int, ok bool) {
	start = at
	for start > 0 && at-start < 65 && is(s[start-1], cLocal) {
		start--
	}
	for start < at && (s[start] == '.' || s[start] == '%') {
		start++
	}
	if start == at || at-start > 64 {
		return 0, 0, false
	}
	// Domain: labels of letters, digits and dashes separated by dots.
	j := at + width
	labels := 0
	lastStart := j
	for {
		k := j
		for k < len(s) && k-at < 256 && (isAlnum(s[k]) || s[k] == '-' && k > j) {
			k++
		}
		if k == j {
			break
		}
		labels++
		lastStart = j
		end = k
		if k+1 < len(s) && s[k] == '.' && isAlnum(s[k+1]) {
			j = k + 1
			continue
		}
		break
	}
	if labels < 2 {
		return 0, 0, false
	}
	tld := s[lastStart:end]
	if len(tld) < 2 {
		return 0, 0, false
	}
	for i := 0; i < len(tld); i++ {
		if !is(tld[i], cAlpha) {
			return 0, 0, false
		}
	}
	if fileExtensions[strings.ToLower(tld)] {
		return 0, 0, false
	}
	if s[start:at] == "git" && end < len(s) && s[end] == ':' {
		return 0, 0, false // an SSH remote, git@github.com:org/repo
	}
	return start, end, true
}

// jwtAt looks for a JWT (JWS: three base64url segments, or JWE: five)
// starting with "eyJ" at s[i].
func jwtAt(s string, i int) (int, bool) {
	e := runOf(s, i, cB64URL)
	if e-i < 10 || e >= len(s) || s[e] != '.' {
		return 0, false
	}
	p := runOf(s, e+1, cB64URL)
	if p-(e+1) < 2 || p >= len(s) || s[p] != '.' {
		return 0, false
	}
	end := runOf(s, p+1, cB64URL)
	// JWE has two more segments.
	for k := 0; k < 2 && end < len(s) && s[end] == '.' && end+1 < len(s) && is(s[end+1], cB64URL); k++ {
		end = runOf(s, end+1, cB64URL)
	}
	return end, true
}

// authSchemeAt looks for "Bearer <token>" or "Basic <base64 of user:pass>"
// (any case) at s[i] and returns the credential's span.
func authSchemeAt(s string, i int) (start, end int, ok bool) {
	var basic bool
	switch {
	case hasPrefixFold(s[i:], "bearer"):
		i += 6
	case hasPrefixFold(s[i:], "basic"):
		i += 5
		basic = true
	default:
		return 0, 0, false
	}
	j := i
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j == i || j-i > 4 {
		return 0, 0, false
	}
	e := runOf(s, j, cBearer)
	tok := s[j:e]
	if basic {
		if len(tok) < 8 || !basicCredential(tok) {
			return 0, 0, false
		}
		return j, e, true
	}
	if len(tok) < 8 {
		return 0, 0, false
	}
	if len(tok) < 20 {
		digit := false
		for k := 0; k < len(tok); k++ {
			digit = digit || '0' <= tok[k] && tok[k] <= '9'
		}
		if !digit {
			return 0, 0, false // "bearer authentication"
		}
	}
	return j, e, true
}

// basicCredential reports whether tok is base64 of "user:password".
func basicCredential(tok string) bool {
	var buf [192]byte
	if base64.StdEncoding.DecodedLen(len(tok)) > len(buf) {
		return false
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(tok))
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(buf[:], []byte(tok))
		if err != nil {
			return false
		}
	}
	colon := false
	for _, c := range buf[:n] {
		if c < 0x20 || c == 0x7f {
			return false
		}
		colon = colon || c == ':'
	}
	return colon
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// pemAt looks for a PEM private-key block starting with "-----BEGIN " at
// s[i] and returns its end: after the END line, or the end of s when the
// block is cut off.
func pemAt(s string, i int) (int, bool) {
	b := i + len("-----BEGIN ")
	lim := min(len(s), b+80)
	k := strings.Index(s[b:lim], "-----")
	if k < 0 || !strings.Contains(s[b:b+k], "PRIVATE KEY") {
		return 0, false
	}
	rest := b + k + 5
	e := strings.Index(s[rest:], "-----END ")
	if e < 0 {
		return len(s), true
	}
	e += rest + len("-----END ")
	f := strings.Index(s[e:min(len(s), e+80)], "-----")
	if f < 0 {
		return len(s), true
	}
	return e + f + 5, true
}

// urlPasswordAt looks for the password of scheme://user:password@host
// where s[i:] starts with "://".
func urlPasswordAt(s string, i int) (start, end int, ok bool) {
	a := i + 3
	e := a
	at := -1
	for e < len(s) && e-a < 512 {
		c := s[e]
		if c == '/' || c == '?' || c == '#' || is(c, cValEnd) {
			break
		}
		if c == '@' {
			at = e
		}
		e++
	}
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.IndexByte(s[a:at], ':')
	if colon < 0 || a+colon+1 == at {
		return 0, 0, false
	}
	return a + colon + 1, at, true
}

// azureKeyBefore looks for the 88-character base64 of a 64-byte Azure
// storage key ending with the "==" at s[i]. A SHA-512 digest
// ("sha512-…==", as in npm integrity strings) has the same shape and is
// skipped.
func azureKeyBefore(s string, i int) (int, bool) {
	st := i - 86
	if st < 0 {
		return 0, false
	}
	for k := st; k < i; k++ {
		if !is(s[k], cB64Std) {
			return 0, false
		}
	}
	if st > 0 && is(s[st-1], cB64Std) || i+2 < len(s) && (is(s[i+2], cB64Std) || s[i+2] == '=') {
		return 0, false
	}
	if st >= 7 && (s[st-7:st] == "sha512-" || s[st-7:st] == "sha512:" || s[st-7:st] == "sha512=") {
		return 0, false
	}
	return st, true
}

// sigKeys are URL and connection-string parameters that carry signatures
// usable as credentials (Azure SAS, presigned URLs).
var sigKeys = map[string]bool{"sig": true, "signature": true, "x-amz-signature": true,
	"x-goog-signature": true, "sharedaccesssignature": true, "x-amz-credential": true}

// keyValueAt looks for key=value or key: value in free text where s[i] is
// the separator, with a secret-looking key ("password=hunter2",
// "?token=…&", `"api_key": "…"`, "Authorization: Bearer …"), and returns
// the span of the value and its detector.
func keyValueAt(s string, i int) (start, end int, det uint8, ok bool) {
	k := i
	if k > 0 && s[k-1] == ' ' {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') {
		k--
		if k > 0 && s[k-1] == '\\' {
			k--
		}
	}
	ke := k
	for k > 0 && ke-k <= 64 && is(s[k-1], cKey) {
		k--
	}
	if k == ke || ke-k > 64 || k > 0 && isAlnum(s[k-1]) {
		return 0, 0, 0, false
	}
	if s[i] == ':' && k > 0 && s[k-1] == ':' {
		return 0, 0, 0, false // a colon-separated name (ARN, URN), not key: value
	}
	key := s[k:ke]
	// A colon with nothing between it and the value, outside quotes, is
	// more often host:port or a name ("auth:8080") than a key and value.
	tight := s[i] == ':' && ke == i && i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '"' && s[i+1] != '\''
	switch cls := keyClass(key); {
	case cls == wStrong || cls == wWeak && !tight:
		det = dKeyName
	case s[i] == '=' && k > 0 && (s[k-1] == '?' || s[k-1] == '&' || s[k-1] == ';') && sigKey(key):
		det = dAccessKey
	default:
		return 0, 0, 0, false
	}
	v := i + 1
	for n := 0; v < len(s) && s[v] == ' ' && n < 3; n++ {
		v++
	}
	if v >= len(s) {
		return 0, 0, 0, false
	}
	// Quoted values run to the closing quote.
	if q := s[v]; q == '"' || q == '\'' || q == '\\' && v+1 < len(s) && s[v+1] == '"' {
		closing := string(q)
		if q == '\\' {
			closing = `\"`
			v++
		}
		v++
		e := v
		for e < len(s) && !strings.HasPrefix(s[e:], closing) {
			if s[e] == '\\' && q != '\\' {
				e++
			}
			e++
		}
		e = min(e, len(s))
		if e == v {
			return 0, 0, 0, false
		}
		return v, e, det, true
	}
	e := v
	for e < len(s) && !is(s[e], cValEnd) {
		e++
	}
	if e == v || s[v:e] == "null" || tight && allDigits(s[v:e]) {
		return 0, 0, 0, false
	}
	// "Authorization: Bearer abc": the credential is the next token too.
	if e < len(s) && s[e] == ' ' && isScheme(s[v:e]) {
		f := e + 1
		for f < len(s) && !is(s[f], cValEnd) {
			f++
		}
		if f > e+1 {
			e = f
		}
	}
	return v, e, det, true
}

func sigKey(k string) bool {
	if len(k) > 24 {
		return false
	}
	var buf [24]byte
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return sigKeys[string(buf[:len(k)])]
}

func isScheme(w string) bool {
	switch strings.ToLower(w) {
	case "bearer", "basic", "token", "digest", "negotiate", "apikey", "sharedaccesssignature":
		return true
	}
	return false
}

// ipv4At looks for a dotted-quad IPv4 address starting at the digit s[i].
func ipv4At(s string, i int) (int, bool) {
	if i > 0 && (s[i-1] == '.' || isAlnum(s[i-1])) {
		return 0, false
	}
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0, false
			}
			j++
		}
		k := j
		v := 0
		for k < len(s) && '0' <= s[k] && s[k] <= '9' && k-j < 3 {
			v = v*10 + int(s[k]-'0')
			k++
		}
		if k == j || v > 255 || k-j > 1 && s[j] == '0' {
			return 0, false
		}
		j = k
	}
	if j < len(s) && (isAlnum(s[j]) || s[j] == '.' && j+1 < len(s) && '0' <= s[j+1] && s[j+1] <= '9') {
		return 0, false
	}
	return j, true
}

// ipv6Around looks for an IPv6 address containing the ':' at s[i].
func ipv6Around(s string, i int) (start, end int, ok bool) {
	isV6 := func(c byte) bool { return is(c, cHex) || c == ':' || c == '.' }
	start = i
	for start > 0 && i-start <= 45 && isV6(s[start-1]) {
		start--
	}
	end = i
	for end < len(s) && end-i <= 45 && isV6(s[end]) {
		end++
	}
	if start > 0 && isAlnum(s[start-1]) || end < len(s) && isAlnum(s[end]) || end-start < 3 || end-start > 45 {
		return 0, 0, false
	}
	if strings.Count(s[start:end], ":") < 2 {
		return 0, 0, false
	}
	a, err := netip.ParseAddr(s[start:end])
	if err != nil || !a.Is6() {
		return 0, 0, false
	}
	return start, end, true
}

// truncateIP returns the /24 (IPv4) or /48 (IPv6) network address of ip,
// and false when ip is not an address.
func truncateIP(ip string) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	bits := 24
	if a.Is6() && !a.Is4In6() {
		bits = 48
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return "", false
	}
	return p.Addr().String(), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
