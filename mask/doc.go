// Package mask removes secrets and personal data from audit events before
// they are canonicalised, hashed, stored or forwarded (DESIGN.md §7). It is
// the "mask" stage of ingest: validate → mask → canonicalise → batch.
//
// # Model
//
// Each tenant has a Config: whether the default detectors are on, and a
// list of rules, each a JSON path or a detector with an action. New
// compiles a Config with the tenant's HMAC key into a Masker, which is
// immutable and safe for concurrent use. Apply masks one event in place
// and records in Event.Masked the paths of the values it changed.
//
//	m, err := mask.New(settings.Masking, tenantKey) // once per tenant and settings change
//	...
//	e.Normalize(now, newID)
//	if err := e.Validate(limits); err != nil { … }
//	m.Apply(e)                                      // before AppendCanonical
//	leaf, err := e.AppendCanonical(nil)
//	if err := trail.CheckSize(leaf, limits); err != nil { … }
//
// The query API translates search values with SearchValue, so that a
// search for an address finds the events where it was hashed:
//
//	v, ok := m.SearchValue("metadata.invitee", "ada@example.com") // "hmac:…"
//
// # Actions
//
//   - redact: the value (or the matched part of a string) becomes
//     "[REDACTED]"; an object or array under a rule becomes that string.
//   - partial: "****" followed by the last four characters, when the value
//     has at least twelve (a card number keeps its last four digits);
//     shorter values become "****". For the ip detector, the address is
//     truncated to its /24 or /48 network.
//   - hmac: "hmac:" + base64url(HMAC-SHA256(tenant key, value)[:16]), see
//     HMAC; numbers and booleans are hashed in their JSON text, objects and
//     arrays leaf by leaf; detected e-mails are hashed in lower case.
//   - drop: the key, array element or change value is removed, a string
//     field of the event emptied (actor.id, which is required, is redacted
//     instead); inside free text only the match is removed.
//   - keep (an extension of the DESIGN.md shape): a path rule exempts its
//     value from every detector; a detector rule turns the detector off.
//
// null values stay null under every action but drop: they hide nothing.
//
// # Detectors and defaults
//
// With "defaults": true (or absent) these detectors are on:
//
//	key_name      redact   values under secret-looking keys, of any type
//	email         hmac     e-mail addresses (also written with %40)
//	card          partial  13–19 digit card numbers with a brand prefix, Luhn-valid,
//	                       plain or in groups split by spaces or dashes; also JSON numbers
//	jwt           redact   eyJ….….… (JWS) and five-part JWE
//	bearer        redact   "Bearer <token>" (≥ 20 characters, or ≥ 8 with a digit),
//	                       "Basic <base64 of user:password>"
//	access_key    redact   AWS AKIA/ASIA key ids and the 40-character secret key in
//	                       the same string or object; GCP AIza…, GOCSPX-…, ya29.…;
//	                       Azure storage keys (88 base64 characters ending "=="),
//	                       AccountKey=/SharedAccessKey= (through key_name) and SAS
//	                       signatures (sig=); GitHub ghp_/gho_/ghs_/ghu_/ghr_/
//	                       github_pat_; GitLab glpat-/gldt-/glrt-/glptt-; Slack
//	                       xox[bpars]-, xapp-, hooks.slack.com/services/…; Stripe
//	                       sk_/rk_ live and test, whsec_; npm_; OpenAI and
//	                       Anthropic sk-…; Shopify shpat_/shpss_; SendGrid SG.…;
//	                       trail's own trl_ keys
//	private_key   redact   PEM blocks whose label contains PRIVATE KEY, BEGIN to END
//	url_password  redact   the password of scheme://user:password@host
//
// The ip detector (IPv4 dotted quads and IPv6 addresses) is off by default;
// a rule {"detector":"ip","action":"partial"} turns it on to truncate
// addresses, including source.ip.
//
// Key names are split into words at separators and camel case and matched
// against secret words (password, passwd, pwd, secret, token, api key,
// access key, private key, client secret, authorization, auth, cookie,
// set-cookie, session, credentials, …; see secretKey for the exact rules),
// so that "dbPassword", "X-Api-Key", "refresh_token" and "private_key_id"
// are secret while "token_type", "password_policy", "max_tokens",
// "tokenizer" and "passage" are not. The same key names are recognised in
// free text before "=" or ":" ("?token=…&", "password: …", `"api_key":"…"`,
// "Authorization: Bearer …"): there only the value is masked. Google
// service-account JSON is covered by private_key_id, private_key (also
// as PEM) and client_secret.
//
// Key-name detection masks the whole value under the key, whatever its
// type. The other detectors mask the matching part of a string, or the
// whole value when the match is all of it (drop then removes the key).
//
// # Where masking looks
//
// Every string a client controls that can hold a secret: actor.id,
// actor.name, actor.email, resource.id, resource.name, source.user_agent,
// request.id, request.path, reason, changes[].old and changes[].new (any
// JSON; when changes[].field is a secret-looking name both values are
// masked whole by key_name) and metadata at any depth. source.ip is looked
// at by the ip detector and by path rules only.
//
// Exempt by default: actor.id and actor.email from the email and ip
// detectors. They say who acted; hashing the actor's own address would
// make every event of that actor unreadable to the people who must review
// it and break the actor filter, which is the point of an audit log. The
// credential detectors still look at them, since a raw key there is a
// leak. A path rule ({"path":"actor.email","action":"hmac"}) masks them
// anyway. action, actor.type, resource.type, source.origin, request.method
// and changes[].field are fixed vocabularies and never changed; metadata
// keys themselves are never changed either.
//
// # Paths
//
// Rule paths are dotted: "metadata.card.number", "changes.new.password",
// "reason", "actor.email", "resource.name", "resource.id",
// "source.user_agent", "source.ip", "request.path", "request.id". A "*"
// segment matches any one key ("metadata.*.token", "changes.*"); arrays are
// traversed transparently, so "metadata.cards.number" matches
// metadata.cards[3].number; indexes are not allowed. A path rule masks the
// whole value at the path, takes precedence over detectors (the first path
// rule that matches wins), and keys containing "." cannot be named.
//
// Paths in Event.Masked are concrete: keys joined by ".", array indexes in
// brackets, as in "metadata.db.password", "metadata.items[0].card",
// "changes[2].new", "request.path". Indexes are those of the event as
// received, before dropped elements were removed. A key that is empty or
// contains '.', '[', ']', '"', '\\', white space or a control character is
// written as a bracketed JSON string: metadata["a.b"].password. Paths
// longer than 1024 bytes are cut to the longest prefix of whole steps that
// fits. For metadata without arrays and odd keys, these are the field
// names of the query language ("metadata.db.password").
package mask
