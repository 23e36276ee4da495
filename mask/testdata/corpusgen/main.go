// Command corpusgen writes the masking corpus, secrets.jsonl and
// lookalikes.jsonl, deterministically. From mask/testdata/corpusgen:
//
//	go run . ..
//
// Every secret in it is random and fake; formats follow the vendors'.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

var r = rand.New(rand.NewPCG(7, 11))

const (
	upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower = "abcdefghijklmnopqrstuvwxyz"
	digit = "0123456789"
	alnum = upper + lower + digit
	b64   = alnum + "+/"
	b64u  = alnum + "-_"
	hexd  = "0123456789abcdef"
)

func rs(n int, set string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[r.IntN(len(set))]
	}
	return string(b)
}

func pick[T any](xs ...T) T { return xs[r.IntN(len(xs))] }

type entry struct {
	Name   string         `json:"name"`
	Secret string         `json:"secret,omitempty"`
	Value  string         `json:"value,omitempty"`
	Event  map[string]any `json:"event"`
}

func baseEvent() map[string]any {
	return map[string]any{
		"action": pick("user.update", "key.rotate", "route.update", "user.login", "secret.create", "billing.charge", "webhook.create"),
		"actor":  map[string]any{"id": fmt.Sprintf("u_%d", r.IntN(900)+100), "name": pick("Ada Lovelace", "Grace Hopper", "Linus T"), "type": "user"},
		"tenant": "acme",
	}
}

// place puts a string value v in one of many places of an event.
func place(kind string, v string) map[string]any {
	e := baseEvent()
	switch kind {
	case "meta":
		e["metadata"] = map[string]any{pick("note", "value", "detail", "input", "payload", "comment"): v, "plan": "pro"}
	case "nested":
		e["metadata"] = map[string]any{"request": map[string]any{"body": map[string]any{"field": v, "n": 3.0}}}
	case "array":
		e["metadata"] = map[string]any{"items": []any{"first", map[string]any{"x": v}, v + " again"}}
	case "reason":
		e["reason"] = pick("customer pasted ", "support note: ", "found in logs: ", "debug: ") + v + pick("", " please rotate", " (ticket 4411)")
	case "old":
		e["changes"] = []any{map[string]any{"field": "upstream", "old": v, "new": "b:80"}}
	case "new":
		e["changes"] = []any{map[string]any{"field": "config", "old": "a", "new": map[string]any{"env": []any{"X=1", v}}}}
	case "resname":
		e["resource"] = map[string]any{"type": "secret", "id": "sec_1", "name": v}
	case "resid":
		e["resource"] = map[string]any{"type": "token", "id": v}
	case "ua":
		e["source"] = map[string]any{"ip": "203.0.113.7", "user_agent": "curl/8.5.0 " + v}
	case "path":
		e["request"] = map[string]any{"method": "GET", "path": "/v1/search?q=" + v + "&limit=10"}
	case "actorname":
		e["actor"].(map[string]any)["name"] = v
	}
	return e
}

var allPlaces = []string{"meta", "nested", "array", "reason", "old", "new", "resname", "resid", "ua", "path", "actorname"}
var textPlaces = []string{"meta", "nested", "array", "reason", "old", "new", "resname", "ua", "actorname"}

func luhnComplete(prefix string, n int) string {
	s := prefix + rs(n-len(prefix)-1, digit)
	for c := byte('0'); c <= '9'; c++ {
		if luhn(s + string(c)) {
			return s + string(c)
		}
	}
	panic("no luhn")
}

func luhn(s string) bool {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		v := int(s[i] - '0')
		if (len(s)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

func group(s string, sep string, sizes ...int) string {
	var parts []string
	for _, n := range sizes {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	if s != "" {
		parts = append(parts, s)
	}
	return strings.Join(parts, sep)
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jwt() string {
	h := b64url(pick(`{"alg":"HS256","typ":"JWT"}`, `{"alg":"RS256","kid":"`+rs(8, hexd)+`"}`, `{"typ":"JWT","alg":"ES256"}`))
	p := b64url(fmt.Sprintf(`{"sub":"%d","name":"%s","iat":%d,"exp":%d}`, r.IntN(99999), pick("Ada", "Bob", "svc"), 1700000000+r.IntN(1e7), 1800000000+r.IntN(1e7)))
	return h + "." + p + "." + rs(43, b64u)
}

func pem(kind string) (block, body string) {
	body = rs(64, b64)
	block = "-----BEGIN " + kind + "-----\n" + body + "\n" + rs(64, b64) + "\n" + rs(20, b64) + "==\n-----END " + kind + "-----"
	return
}

var secrets []entry
var looks []entry

func sec(name, secret string, e map[string]any) {
	secrets = append(secrets, entry{Name: name, Secret: secret, Event: e})
}

func look(name, value string, e map[string]any) {
	looks = append(looks, entry{Name: name, Value: value, Event: e})
}

func main() {
	// E-mails.
	for i := 0; i < 22; i++ {
		addr := pick("ada", "grace.hopper", "j.doe+billing", "ops-team", "m_ali") + fmt.Sprint(r.IntN(99)) + "@" + pick("example.com", "corp.example.co.uk", "mail.example.org", "Example.NET")
		pl := allPlaces[i%len(allPlaces)]
		v := addr
		if pl == "path" && i%2 == 0 {
			v = strings.Replace(addr, "@", "%40", 1)
		}
		sec("email/"+pl, v, place(pl, v))
	}
	// Card numbers.
	cards := []struct {
		prefix string
		n      int
		sizes  []int
	}{{"4", 16, []int{4, 4, 4}}, {"51", 16, []int{4, 4, 4}}, {"2223", 16, []int{4, 4, 4}}, {"37", 15, []int{4, 6}}, {"6011", 16, []int{4, 4, 4}}, {"3530", 16, []int{4, 4, 4}}, {"36", 14, []int{4, 6}}, {"4", 13, []int{4, 4}}, {"62", 19, []int{4, 4, 4, 4}}}
	for i := 0; i < 27; i++ {
		c := cards[i%len(cards)]
		num := luhnComplete(c.prefix, c.n)
		v := num
		switch i % 3 {
		case 1:
			v = group(num, " ", c.sizes...)
		case 2:
			v = group(num, "-", c.sizes...)
		}
		pl := allPlaces[i%len(allPlaces)]
		sec("card/"+pl, v, place(pl, v))
	}
	for i := 0; i < 4; i++ {
		num := luhnComplete("4", 16)
		e := baseEvent()
		var f float64
		fmt.Sscan(num, &f)
		e["metadata"] = map[string]any{"payment": map[string]any{"pan": f, "amount": 12.5}}
		sec("card/number", num, e)
	}
	// JWTs.
	for i := 0; i < 16; i++ {
		t := jwt()
		pl := allPlaces[i%len(allPlaces)]
		sec("jwt/"+pl, t, place(pl, t))
	}
	// Bearer and Basic.
	for i := 0; i < 14; i++ {
		tok := rs(32+r.IntN(16), alnum+"-._")
		v := pick("Authorization: Bearer ", "bearer ", "Bearer ") + tok
		pl := textPlaces[i%len(textPlaces)]
		sec("bearer/"+pl, tok, place(pl, v))
	}
	for i := 0; i < 6; i++ {
		cred := base64.StdEncoding.EncodeToString([]byte(pick("admin", "svc", "deploy") + ":" + rs(12, alnum)))
		pl := textPlaces[i%len(textPlaces)]
		sec("basic/"+pl, cred, place(pl, "Authorization: Basic "+cred))
	}
	// AWS.
	for i := 0; i < 10; i++ {
		id := pick("AKIA", "ASIA") + rs(16, upper+"234567")
		secret := rs(40, b64)
		for !strings.ContainsAny(secret, lower) || !strings.ContainsAny(secret, upper) {
			secret = rs(40, b64)
		}
		switch i % 3 {
		case 0:
			e := baseEvent()
			e["metadata"] = map[string]any{"aws": map[string]any{"key": id, "value": secret, "region": "eu-west-1"}}
			sec("aws/pair-object-id", id, e)
			sec("aws/pair-object-secret", secret, e)
		case 1:
			pl := textPlaces[i%len(textPlaces)]
			e := place(pl, "aws configure set "+id+" "+secret)
			sec("aws/text-id/"+pl, id, e)
			sec("aws/text-secret/"+pl, secret, e)
		case 2:
			e := baseEvent()
			e["metadata"] = map[string]any{"aws_secret_access_key": secret, "aws_access_key_id": id}
			sec("aws/keyname-secret", secret, e)
			sec("aws/keyname-id", id, e)
		}
	}
	// GCP API keys.
	for i := 0; i < 8; i++ {
		k := "AIza" + rs(35, b64u)
		pl := allPlaces[(i+3)%len(allPlaces)]
		sec("gcp/"+pl, k, place(pl, k))
	}
	// Azure.
	for i := 0; i < 8; i++ {
		key := rs(86, b64) + "=="
		var v string
		switch i % 3 {
		case 0:
			v = "DefaultEndpointsProtocol=https;AccountName=acme" + rs(4, lower+digit) + ";AccountKey=" + key + ";EndpointSuffix=core.windows.net"
		case 1:
			v = key
		case 2:
			v = "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key[:44]
			key = key[:44]
		}
		pl := textPlaces[i%len(textPlaces)]
		sec("azure/"+pl, key, place(pl, v))
	}
	for i := 0; i < 4; i++ {
		sig := rs(43, alnum) + "%3D"
		v := "https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig=" + sig
		pl := pick("meta", "reason", "old")
		sec("azure-sas/"+pl, sig, place(pl, v))
	}
	// Code hosts and SaaS.
	vendor := []func() string{
		func() string { return pick("ghp_", "gho_", "ghs_", "ghu_") + rs(36, alnum) },
		func() string { return "github_pat_" + rs(22, alnum) + "_" + rs(59, alnum) },
		func() string { return "glpat-" + rs(20, b64u) },
		func() string {
			return pick("xoxb-", "xoxp-") + rs(11, digit) + "-" + rs(12, digit) + "-" + rs(24, alnum)
		},
		func() string {
			return "https://hooks.slack.com/services/T" + rs(8, upper+digit) + "/B" + rs(8, upper+digit) + "/" + rs(24, alnum)
		},
		func() string { return pick("sk_live_", "rk_live_") + rs(24, alnum) },
		func() string { return "npm_" + rs(36, alnum) },
		func() string { return "trl_" + rs(16, hexd) + "_" + rs(43, b64u) },
		func() string { return "whsec_" + rs(32, b64) },
		func() string { return "sk-proj-" + rs(48, b64u) },
	}
	for i := 0; i < 50; i++ {
		v := vendor[i%len(vendor)]()
		pl := allPlaces[i%len(allPlaces)]
		check := v
		if strings.HasPrefix(v, "https://hooks") {
			check = v[strings.LastIndexByte(v, '/')+1:]
		}
		sec("vendor/"+v[:4]+"/"+pl, check, place(pl, v))
	}
	// PEM private keys.
	kinds := []string{"RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"}
	for i := 0; i < 12; i++ {
		block, body := pem(kinds[i%len(kinds)])
		pl := pick("meta", "nested", "reason", "old", "array")
		sec("pem/"+pl, body, place(pl, block))
	}
	// Google service-account JSON.
	for i := 0; i < 6; i++ {
		kid := rs(40, hexd)
		block, body := pem("PRIVATE KEY")
		sa := map[string]any{"type": "service_account", "project_id": "acme-prod", "private_key_id": kid, "private_key": block + "\n",
			"client_email": "deployer@acme-prod.iam.gserviceaccount.com", "client_id": rs(21, digit), "token_uri": "https://oauth2.googleapis.com/token"}
		e := baseEvent()
		if i%2 == 0 {
			e["metadata"] = map[string]any{"service_account": sa}
		} else {
			b, _ := json.Marshal(sa)
			e["metadata"] = map[string]any{"uploaded_file": string(b)}
		}
		sec("gcp-sa/private_key_id", kid, e)
		sec("gcp-sa/private_key", body, e)
	}
	// Secret-looking keys.
	keys := []string{"password", "dbPassword", "X-Api-Key", "refresh_token", "client_secret", "api-key", "apiKey", "Set-Cookie",
		"session", "auth", "passwd", "pwd", "secret_key", "accessToken", "private_key", "AUTHORIZATION", "cookie", "credentials",
		"smtp_pass", "access_key", "SECRET", "id_token", "session_id", "webhook_secret", "encryption_key", "passphrase", "csrf-token", "authToken"}
	for i, k := range keys {
		v := pick("Tr0ub4dor&3", "correct horse battery", "hunter2!", "s3cr3t-value", "pa55w0rd") + rs(5, alnum)
		e := baseEvent()
		switch i % 4 {
		case 0:
			e["metadata"] = map[string]any{k: v, "region": "eu"}
		case 1:
			e["metadata"] = map[string]any{"db": map[string]any{"host": "db.internal", k: v}}
		case 2:
			e["metadata"] = map[string]any{"headers": []any{map[string]any{k: v}}}
		case 3:
			e["changes"] = []any{map[string]any{"field": k, "old": v, "new": v + "x"}}
		}
		sec("keyname/"+k, v, e)
	}
	// Key names in free text.
	for i := 0; i < 16; i++ {
		v := rs(14, alnum)
		var s string
		switch i % 8 {
		case 0:
			s = "login failed with password=" + v
		case 1:
			s = `{"api_key":"` + v + `","user":"ada"}`
		case 2:
			s = "export DB_PASSWORD=" + v
		case 3:
			s = "X-Api-Key: " + v
		case 4:
			s = "Cookie: session=" + v + "; theme=dark"
		case 5:
			s = "client_secret: '" + v + "'"
		case 6:
			s = "retry with token " + "token=" + v
		case 7:
			s = "spring.datasource.password = " + v
		}
		pl := textPlaces[i%len(textPlaces)]
		sec("kv/"+pl, v, place(pl, s))
	}
	for i := 0; i < 8; i++ {
		v := rs(24, b64u)
		e := baseEvent()
		e["request"] = map[string]any{"method": "GET", "path": "/v1/" + pick("reset", "oauth/callback", "download", "verify") + "?" + pick("token", "access_token", "api_key", "apikey", "code_secret") + "=" + v + "&lang=en"}
		sec("path-query", v, e)
	}
	// URL credentials.
	for i := 0; i < 10; i++ {
		pw := rs(12, alnum+"!$")
		v := pick("postgres", "mysql", "redis", "amqp", "https", "mongodb+srv") + "://" + pick("app", "", "admin") + ":" + pw + "@" + pick("db.internal", "10.0.0.5:5432", "cache.example.com") + "/" + pick("prod", "0", "")
		pl := textPlaces[i%len(textPlaces)]
		sec("url/"+pl, pw, place(pl, v))
	}

	// ---- Look-alikes ----
	lookVals := map[string]func() string{
		"order": func() string { return fmt.Sprintf("ORD-%d-%06d", 2020+r.IntN(7), r.IntN(1e6)) },
		"uuid": func() string {
			return rs(8, hexd) + "-" + rs(4, hexd) + "-4" + rs(3, hexd) + "-a" + rs(3, hexd) + "-" + rs(12, hexd)
		},
		"gitsha":  func() string { return rs(40, hexd) },
		"sha256":  func() string { return rs(64, hexd) },
		"version": func() string { return fmt.Sprintf("v%d.%d.%d", r.IntN(5), r.IntN(30), r.IntN(40)) },
		"timestamp": func() string {
			return fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
		},
		"epochms": func() string { return fmt.Sprint(1700000000000 + r.Int64N(1e11)) },
		"phone": func() string {
			return pick(fmt.Sprintf("+1 415 555 %04d", r.IntN(1e4)), fmt.Sprintf("(415) 555-%04d", r.IntN(1e4)), fmt.Sprintf("+44 20 7946 %04d", r.IntN(1e4)), fmt.Sprintf("+49 30 %06d%02d", r.IntN(1e6), r.IntN(100)))
		},
		"isbn": func() string {
			return fmt.Sprintf("978-%d-%02d-%06d-%d", r.IntN(10), r.IntN(100), r.IntN(1e6), r.IntN(10))
		},
		"nonluhn": func() string {
			for {
				s := pick("4", "5", "6") + rs(15, digit)
				if !luhn(s) {
					return s
				}
			}
		},
		"imgid": func() string { return "img_" + rs(22, b64u) },
		"words": func() string {
			return pick("the tokenizer split the passage", "password reset requested by user", "rotated the secret manager policy", "session expired after timeout", "bearer authentication enabled", "Basic plan renewal", "tokens used this month", "authored by the platform team", "passing all checks", "cookie consent banner updated")
		},
		"ipv4":      func() string { return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)) },
		"retina":    func() string { return pick("logo", "avatar", "hero") + "@2x.png" },
		"gitremote": func() string { return "git@github.com:acme/" + pick("api", "web", "infra") + ".git" },
		"npmver": func() string {
			return pick("lodash", "react", "@babel/core") + "@" + fmt.Sprintf("%d.%d.%d", r.IntN(20), r.IntN(20), r.IntN(20))
		},
		"digest":  func() string { return "nginx@sha256:" + rs(64, hexd) },
		"sri":     func() string { return "sha512-" + rs(86, b64) + "==" },
		"arn":     func() string { return fmt.Sprintf("arn:aws:iam::%012d:role/deployer", r.Int64N(1e12)) },
		"traceid": func() string { return rs(32, hexd) },
		"pklive":  func() string { return "pk_live_" + rs(24, alnum) },
		"price":   func() string { return fmt.Sprintf("%d.%02d EUR", r.IntN(10000), r.IntN(100)) },
		"semverpre": func() string {
			return fmt.Sprintf("1.%d.%d-rc.%d+build.%d", r.IntN(9), r.IntN(9), r.IntN(9), r.IntN(9999))
		},
		"url": func() string {
			return "https://app.example.com:8443/settings/" + pick("tokens", "passwords", "keys") + "?tab=" + pick("api", "sso")
		},
		"b64json": func() string { return "eyJ" + rs(30, b64u) },
		"iban":    func() string { return "DE89 3704 0044 0532 " + rs(4, digit) + " 00" },
		"keyid":   func() string { return "key_" + rs(16, hexd) },
		"path": func() string {
			return "/v1/users/u_" + fmt.Sprint(r.IntN(999)) + "/" + pick("password", "tokens", "sessions")
		},
		"duration": func() string { return fmt.Sprintf("took %dms over %d retries", r.IntN(5000), r.IntN(5)) },
		"k8s":      func() string { return "payments-api-" + rs(10, lower+digit) + "-" + rs(5, lower+digit) },
		"mac": func() string {
			return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256))
		},
		"hostport": func() string {
			return pick("auth", "session", "token-service", "cookie-store") + fmt.Sprintf(":%d", 80+r.IntN(9000))
		},
		"time": func() string { return fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60)) },
	}
	var lkNames []string
	for k := range lookVals {
		lkNames = append(lkNames, k)
	}
	// deterministic order
	sortStrings(lkNames)
	for i := 0; i < 7; i++ {
		for j, k := range lkNames {
			v := lookVals[k]()
			pl := allPlaces[(i*len(lkNames)+j)%len(allPlaces)]
			if pl == "path" || pl == "resid" {
				v = strings.ReplaceAll(v, " ", "-")
			}
			look(k+"/"+pl, v, place(pl, v))
		}
	}
	// Look-alike keys: secret-ish names that are not secrets.
	lkKeys := map[string]any{"token_type": "Bearer", "password_changed_at": "2026-03-01T10:00:00Z", "max_tokens": 4096.0,
		"tokenizer": "cl100k_base", "passage": "chapter 3", "password_policy": "min12", "token_count": 512.0, "auth_method": "oidc",
		"session_duration_s": 3600.0, "secret_name": "prod/db", "next_page_token": "p2", "author": "ada", "token_expires_at": "2026-12-01T00:00:00Z",
		"api_key_id": "key_4f2a", "has_password": true, "cookie_name": "sid", "token_url": "https://oauth2.example.com/token", "keyboard": "us",
		"passenger": "A. Smith", "tokens_used": 1200.0, "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db", "key": "plan",
		"primary_key": "id", "public_key_fingerprint": "SHA256:" + rs(43, b64), "auth_provider": "okta", "password_strength": "strong"}
	var kk []string
	for k := range lkKeys {
		kk = append(kk, k)
	}
	sortStrings(kk)
	for _, k := range kk {
		e := baseEvent()
		e["metadata"] = map[string]any{k: lkKeys[k], "plan": "pro"}
		look("keyname/"+k, fmt.Sprint(lkKeys[k]), e)
	}
	write("secrets.jsonl", secrets)
	write("lookalikes.jsonl", looks)
	fmt.Fprintln(os.Stderr, len(secrets), "secrets,", len(looks), "look-alikes")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func write(name string, es []entry) {
	f, err := os.Create(os.Args[1] + "/" + name)
	if err != nil {
		panic(err)
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			panic(err)
		}
	}
	f.Close()
}
