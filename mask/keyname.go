package mask

import "strings"

// Key-name detection. A key is split into lower-case words at separators
// (anything but ASCII letters and digits) and at camel-case boundaries:
// "dbPassword" → db password, "X-Api-Key" → x api key, "APIKey" → api key.
// The key is secret when one of its words is a secret word, and the words
// around it do not turn it into the name of something about the secret:
//
//   - strong words mask unless a later word qualifies them ("password_policy",
//     "token_type", "secret_name", "token_expires_at"): password, passwd,
//     pwd, secret(s), token, credential(s), creds, passphrase, cvv, cvc,
//     authorization, any word ending in password, passwd, secret, token,
//     apikey, accesskey, secretkey, privatekey, passphrase, credentials
//     ("dbpassword", "accesstoken"), and "key" after api, access, secret,
//     private, signing, encryption, master, client, ssh, account, storage,
//     shared, subscription, license, webhook, hmac or deploy;
//   - weak words mask only when last or followed by value-like words (value,
//     data, string, header, id, key, token, cookie, …): auth, session,
//     cookie(s), set-cookie, pass, jwt, bearer, dsn;
//   - a secret word right after page, next, continuation or pagination, or in
//     a key that starts with has, is, no, use, enable, require, min, max,
//     num, total, count, allow, … is not a secret ("has_password",
//     "next_page_token", "max_tokens").
//
// "private_key_id" (Google service-account JSON) and "session_id" are
// secret; "key", "tokens", "tokenizer", "passage", "author" are not.

type wordClass uint8

const (
	wNone   wordClass = iota
	wStrong           // a secret word; later qualifiers can cancel it
	wWeak             // a secret word only when last or followed by value words
)

var secretWords = map[string]wordClass{
	"password": wStrong, "passwords": wStrong, "passwd": wStrong, "pwd": wStrong,
	"secret": wStrong, "secrets": wStrong, "token": wStrong, "credential": wStrong,
	"credentials": wStrong, "creds": wStrong, "passphrase": wStrong, "cvv": wStrong,
	"cvv2": wStrong, "cvc": wStrong, "cvc2": wStrong, "authorization": wStrong,
	"apikey": wStrong, "privatekey": wStrong, "secretkey": wStrong, "accesskey": wStrong,
	"auth": wWeak, "session": wWeak, "cookie": wWeak, "cookies": wWeak, "setcookie": wWeak,
	"pass": wWeak, "jwt": wWeak, "bearer": wWeak, "dsn": wWeak, "sessionid": wWeak,
}

// secretSuffixes make a word secret when it ends with one ("dbpassword").
var secretSuffixes = []string{"password", "passwd", "secret", "token", "apikey", "accesskey",
	"secretkey", "privatekey", "passphrase", "credentials"}

// keyQualifiers make a following "key" secret ("api key", "signing key").
var keyQualifiers = map[string]bool{"api": true, "access": true, "secret": true, "private": true,
	"signing": true, "encryption": true, "master": true, "client": true, "ssh": true, "account": true,
	"storage": true, "shared": true, "subscription": true, "license": true, "webhook": true,
	"hmac": true, "deploy": true, "sas": true}

// valueWords may follow a weak word ("session_id", "auth_header").
var valueWords = map[string]bool{"value": true, "val": true, "data": true, "string": true, "str": true,
	"raw": true, "plain": true, "plaintext": true, "text": true, "header": true, "id": true, "key": true,
	"token": true, "cookie": true, "secret": true, "hash": true, "b64": true, "base64": true, "hex": true,
	"json": true, "enc": true, "encrypted": true, "old": true, "new": true, "current": true}

// qualifiers after a strong word make the key name something about the
// secret rather than the secret ("password_policy").
var qualifiers = map[string]bool{"name": true, "names": true, "id": true, "ids": true, "type": true,
	"types": true, "kind": true, "count": true, "counts": true, "length": true, "len": true, "size": true,
	"expires": true, "expiry": true, "expiration": true, "exp": true, "expired": true, "at": true,
	"ttl": true, "lifetime": true, "age": true, "uri": true, "url": true, "urls": true, "endpoint": true,
	"path": true, "file": true, "filename": true, "location": true, "policy": true, "policies": true,
	"rule": true, "rules": true, "strength": true, "complexity": true, "changed": true, "change": true,
	"changes": true, "updated": true, "update": true, "created": true, "create": true, "reset": true,
	"rotated": true, "rotation": true, "rotate": true, "required": true, "require": true,
	"enabled": true, "enable": true, "disabled": true, "hint": true, "hints": true, "provider": true,
	"method": true, "methods": true, "scheme": true, "mode": true, "format": true, "version": true,
	"status": true, "state": true, "set": true, "present": true, "exists": true, "valid": true,
	"validity": true, "last4": true, "issued": true, "issuer": true, "audience": true, "scope": true,
	"scopes": true, "prefix": true, "suffix": true, "fingerprint": true, "usage": true, "used": true,
	"limit": true, "limits": true, "budget": true, "index": true, "strategy": true, "field": true,
	"fields": true, "label": true, "description": true, "owner": true, "arn": true, "ref": true,
	"reference": true, "timeout": true, "duration": true, "manager": true, "store": true, "vault": true,
	"endpoints": true, "algorithm": true, "alg": true}

// denyFirst as the first word of a key makes it a flag or a count.
var denyFirst = map[string]bool{"has": true, "is": true, "no": true, "use": true, "uses": true,
	"using": true, "enable": true, "enabled": true, "require": true, "requires": true, "need": true,
	"needs": true, "min": true, "max": true, "num": true, "total": true, "count": true, "should": true,
	"allow": true, "allowed": true, "can": true, "must": true, "show": true, "hide": true,
	"prompt": true, "completion": true, "input": true, "output": true, "cached": true}

// denyBefore right before a secret word makes it a non-secret token.
var denyBefore = map[string]bool{"page": true, "next": true, "continuation": true, "pagination": true,
	"sync": true, "cancellation": true, "idempotency": true, "verification": true}

// maxKeyWords bounds the words of a key that are examined.
const maxKeyWords = 12

// secretKey reports whether the object key k looks like the name of a
// secret. It does not allocate for keys of up to 64 bytes.
func secretKey(k string) bool { return keyClass(k) != wNone }

// keyClass returns wStrong or wWeak for the secret word that makes k a
// secret (wStrong when any does), and wNone when k is not secret.
func keyClass(k string) wordClass {
	if len(k) < 3 {
		return wNone
	}
	var buf [64]byte
	var lower []byte
	if len(k) <= len(buf) {
		lower = buf[:len(k)]
	} else {
		lower = make([]byte, len(k))
	}
	// Prefilter: a key whose letters cannot spell any secret word is not
	// secret. Most keys ("plan", "region", "count") stop here.
	var letters uint32
	for i := 0; i < len(k); i++ {
		letters |= 1 << ((k[i] | 0x20) & 31)
	}
	if !mayHoldSecretWord(letters) {
		return wNone
	}
	var bounds [maxKeyWords][2]uint16
	n := 0
	start := -1
	for i := 0; i < len(k); i++ {
		c := k[i]
		isUpper := 'A' <= c && c <= 'Z'
		isWord := isUpper || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if isUpper {
			lower[i] = c + 'a' - 'A'
		} else {
			lower[i] = c
		}
		if !isWord {
			if start >= 0 {
				if n == maxKeyWords {
					break
				}
				bounds[n] = [2]uint16{uint16(start), uint16(i)}
				n++
				start = -1
			}
			continue
		}
		if start >= 0 && isUpper {
			p := k[i-1]
			nextLower := i+1 < len(k) && 'a' <= k[i+1] && k[i+1] <= 'z'
			if 'a' <= p && p <= 'z' || '0' <= p && p <= '9' || ('A' <= p && p <= 'Z' && nextLower) {
				if n == maxKeyWords {
					start = -1
					break
				}
				bounds[n] = [2]uint16{uint16(start), uint16(i)}
				n++
				start = i
			}
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 && n < maxKeyWords {
		bounds[n] = [2]uint16{uint16(start), uint16(len(k))}
		n++
	}
	word := func(i int) string { return string(lower[bounds[i][0]:bounds[i][1]]) }
	found := wNone
	for i := 0; i < n; i++ {
		w := lower[bounds[i][0]:bounds[i][1]]
		class := secretWords[string(w)]
		if class == wNone {
			switch {
			case string(w) == "key" || string(w) == "keys":
				if i > 0 && keyQualifiers[word(i-1)] {
					class = wStrong
				}
			case string(w) == "string" && i > 0 && word(i-1) == "connection":
				class = wStrong
			default:
				for _, suf := range secretSuffixes {
					if len(w) > len(suf) && strings.HasSuffix(string(w), suf) {
						class = wStrong
						break
					}
				}
			}
		}
		if class == wNone {
			continue
		}
		if i > 0 && (denyFirst[word(0)] || denyBefore[word(i-1)]) {
			continue
		}
		if string(w) == "pass" && (i == 0 || i != n-1) {
			continue // "pass" alone or first is a test result, not a password
		}
		if secretFollowers(lower, bounds[:n], i, class) {
			if class == wStrong {
				return wStrong
			}
			found = class
		}
	}
	return found
}

// secretFollowers reports whether the words after the secret word at i
// leave it a secret.
func secretFollowers(lower []byte, bounds [][2]uint16, i int, class wordClass) bool {
	w := string(lower[bounds[i][0]:bounds[i][1]])
	for j := i + 1; j < len(bounds); j++ {
		f := string(lower[bounds[j][0]:bounds[j][1]])
		if secretWords[f] == wStrong {
			return true // "token_secret"
		}
		if f == "id" && (w == "session" || w == "key" && j >= 2 && string(lower[bounds[j-2][0]:bounds[j-2][1]]) == "private") {
			continue // "session_id", "private_key_id"
		}
		if class == wWeak {
			if !valueWords[f] {
				return false
			}
			continue
		}
		if qualifiers[f] {
			return false
		}
	}
	return true
}

// wordLetters holds, for each secret word and suffix (and "key"), the set of
// its letters as a bit mask over 'a'..'z' (bit c&31).
var wordLetters []uint32

func init() {
	add := func(w string) {
		var m uint32
		for i := 0; i < len(w); i++ {
			if 'a' <= w[i] && w[i] <= 'z' {
				m |= 1 << (w[i] & 31)
			}
		}
		wordLetters = append(wordLetters, m)
	}
	for w := range secretWords {
		add(w)
	}
	for _, w := range secretSuffixes {
		add(w)
	}
	add("key")
	add("keys")
	add("string")
}

// mayHoldSecretWord reports whether a key with the letters in mask
// (bit c&31 for each byte c, case folded) may contain a secret word.
func mayHoldSecretWord(mask uint32) bool {
	for _, w := range wordLetters {
		if mask&w == w {
			return true
		}
	}
	return false
}
