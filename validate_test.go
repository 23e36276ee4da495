package trail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// validEvent returns a normalised event that passes Validate; each case of
// TestEventValidate breaks one rule.
func validEvent() *Event {
	d := 12.0
	e := &Event{
		Action:   "route.update",
		Actor:    Actor{ID: "u_42", Name: "Ada", Type: ActorUser, Email: "ada@example.com"},
		Resource: &Resource{Type: "route", ID: "r_9", Name: "payments"},
		Source:   &Source{IP: "203.0.113.7", UserAgent: "curl/8", Origin: "api"},
		Request:  &Request{ID: "req_1", Method: "PUT", Path: "/routes/9", Status: 200, DurationMS: &d},
		Changes:  []Change{{Field: "upstream", Old: "a:80", New: "b:80"}},
		Reason:   "because",
		Metadata: map[string]any{"plan": "pro"},
	}
	e.Normalize(goldenNow, goldenID)
	return e
}

func TestEventValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		mutate func(e *Event)
		field  string // "" means valid
	}{
		{"valid", func(e *Event) {}, ""},
		{"minimal", func(e *Event) {
			*e = Event{Action: "a", Actor: Actor{ID: "u"}}
			e.Normalize(goldenNow, goldenID)
		}, ""},
		{"missing action", func(e *Event) { e.Action = "" }, "action"},
		{"action with space", func(e *Event) { e.Action = "user login" }, "action"},
		{"action with unicode", func(e *Event) { e.Action = "usér.login" }, "action"},
		{"action all allowed characters", func(e *Event) { e.Action = "aZ09._-:/" }, ""},
		{"action 200 bytes", func(e *Event) { e.Action = long(200) }, ""},
		{"action 201 bytes", func(e *Event) { e.Action = long(201) }, "action"},
		{"missing actor.id", func(e *Event) { e.Actor.ID = "" }, "actor.id"},
		{"actor.id 1025 bytes", func(e *Event) { e.Actor.ID = long(1025) }, "actor.id"},
		{"actor.name 1024 bytes", func(e *Event) { e.Actor.Name = long(1024) }, ""},
		{"actor.name 1025 bytes", func(e *Event) { e.Actor.Name = long(1025) }, "actor.name"},
		{"actor.email too long", func(e *Event) { e.Actor.Email = long(1025) }, "actor.email"},
		{"reason too long", func(e *Event) { e.Reason = long(8193) }, "reason"},
		{"resource.id too long", func(e *Event) { e.Resource.ID = long(1025) }, "resource.id"},
		{"user agent too long", func(e *Event) { e.Source.UserAgent = long(8193) }, "source.user_agent"},
		{"origin too long", func(e *Event) { e.Source.Origin = long(65) }, "source.origin"},
		{"request.method too long", func(e *Event) { e.Request.Method = long(33) }, "request.method"},
		{"request.path too long", func(e *Event) { e.Request.Path = long(8193) }, "request.path"},
		{"bad actor.type", func(e *Event) { e.Actor.Type = "robot" }, "actor.type"},
		{"empty actor.type", func(e *Event) { e.Actor.Type = "" }, ""},
		{"bad outcome", func(e *Event) { e.Outcome = "ok" }, "outcome"},
		{"bad severity", func(e *Event) { e.Severity = "urgent" }, "severity"},
		{"bad source.ip", func(e *Event) { e.Source.IP = "10.0.0.256" }, "source.ip"},
		{"cidr source.ip", func(e *Event) { e.Source.IP = "10.0.0.0/8" }, "source.ip"},
		{"ipv6 source.ip with zone", func(e *Event) { e.Source.IP = "fe80::1%eth0" }, ""},
		{"status 99", func(e *Event) { e.Request.Status = 99 }, "request.status"},
		{"status 600", func(e *Event) { e.Request.Status = 600 }, "request.status"},
		{"status 100", func(e *Event) { e.Request.Status = 100 }, ""},
		{"status 599", func(e *Event) { e.Request.Status = 599 }, ""},
		{"negative duration", func(e *Event) { d := -1.0; e.Request.DurationMS = &d }, "request.duration_ms"},
		{"NaN duration", func(e *Event) { d := math.NaN(); e.Request.DurationMS = &d }, "request.duration_ms"},
		{"infinite duration", func(e *Event) { d := math.Inf(1); e.Request.DurationMS = &d }, "request.duration_ms"},
		{"zero duration", func(e *Event) { d := 0.0; e.Request.DurationMS = &d }, ""},
		{"time before 1970", func(e *Event) { e.Time = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC) }, "time"},
		{"time at 1970", func(e *Event) { e.Time = time.Unix(0, 0).UTC() }, ""},
		{"time after 9999", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time"},
		{"64 metadata keys", func(e *Event) { e.Metadata = manyKeys(64) }, ""},
		{"65 metadata keys", func(e *Event) { e.Metadata = manyKeys(65) }, "metadata"},
		{"NaN in metadata", func(e *Event) { e.Metadata = map[string]any{"x": math.NaN()} }, "metadata.x"},
		{"Inf in nested metadata", func(e *Event) { e.Metadata = map[string]any{"a": map[string]any{"b": []any{1.0, math.Inf(-1)}}} }, "metadata.a.b[1]"},
		{"json.Number NaN in metadata", func(e *Event) { e.Metadata = map[string]any{"x": json.Number("NaN")} }, "metadata.x"},
		{"json.Number out of range", func(e *Event) { e.Metadata = map[string]any{"x": json.Number("1e400")} }, "metadata.x"},
		{"unsupported metadata type", func(e *Event) { e.Metadata = map[string]any{"t": time.Now()} }, "metadata.t"},
		{"metadata nested 33 deep", func(e *Event) { e.Metadata = nested(33) }, "metadata" + strings.Repeat(".k", 33)},
		{"metadata nested 32 deep", func(e *Event) { e.Metadata = nested(32) }, ""},
		{"invalid UTF-8 in actor.name", func(e *Event) { e.Actor.Name = "a\xffb" }, "actor.name"},
		{"invalid UTF-8 in metadata value", func(e *Event) { e.Metadata = map[string]any{"x": "\xc3"} }, "metadata.x"},
		{"invalid UTF-8 in metadata key", func(e *Event) { e.Metadata = map[string]any{"\xff": "x"} }, "metadata"},
		{"changes without field", func(e *Event) { e.Changes = []Change{{Field: "a"}, {Old: 1.0}} }, "changes[1].field"},
		{"NaN in change", func(e *Event) { e.Changes = []Change{{Field: "a", New: math.NaN()}} }, "changes[0].new"},
		{"too many changes", func(e *Event) { e.Changes = make([]Change, 257) }, "changes"},
		{"bad tenant", func(e *Event) { e.Tenant = "Acme" }, "tenant"},
		{"id with space", func(e *Event) { e.ID = "a b" }, "id"},
		{"id too long", func(e *Event) { e.ID = long(129) }, "id"},
		{"id with DEL", func(e *Event) { e.ID = "a\x7f" }, "id"},
		{"masked invalid", func(e *Event) { e.Masked = []string{"ok", "\xff"} }, "masked[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent()
			tt.mutate(e)
			checkAppendValid(t, e, Limits{})
			err := e.Validate(Limits{})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Validate = %v, want *Error for %q", err, tt.field)
			}
			if te.Code != EINVALID || te.Field != tt.field {
				t.Fatalf("Validate = code %q field %q (%v), want %q %q", te.Code, te.Field, err, EINVALID, tt.field)
			}
			if te.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

// TestValidEventEncodes checks that whatever Validate accepts, AppendCanonical
// encodes and the query engine can index without panicking.
func TestValidEventEncodes(t *testing.T) {
	e := validEvent()
	e.Metadata = map[string]any{"x": json.Number("NaN")}
	if e.Validate(Limits{}) != nil {
		return
	}
	// Validate accepted it (see the json.Number NaN case above).
	if _, err := e.AppendCanonical(nil); err != nil {
		t.Errorf("Validate accepted metadata json.Number(\"NaN\") but AppendCanonical fails: %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("Validate accepted metadata json.Number(\"NaN\") but IndexTerms panics: %v", r)
			}
		}()
		IndexTerms(e, func(string, string) {})
	}()
}

func manyKeys(n int) map[string]any {
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%d", i)] = float64(i)
	}
	return m
}

// nested returns {"k":{"k":…{"k":1}}} with depth levels below metadata.
func nested(depth int) map[string]any {
	var v any = 1.0
	for i := 1; i < depth; i++ {
		v = map[string]any{"k": v}
	}
	return map[string]any{"k": v}
}

func TestValidateLimits(t *testing.T) {
	e := validEvent()
	e.Metadata = manyKeys(10)
	if err := e.Validate(Limits{MaxMetadataKeys: 9}); err == nil || err.(*Error).Field != "metadata" {
		t.Errorf("MaxMetadataKeys 9 with 10 keys: %v, want a metadata error", err)
	}
	if err := e.Validate(Limits{MaxMetadataKeys: 10}); err != nil {
		t.Errorf("MaxMetadataKeys 10 with 10 keys: %v", err)
	}
	if got := (Limits{}).WithDefaults(); got != DefaultLimits {
		t.Errorf("Limits{}.WithDefaults() = %+v, want %+v", got, DefaultLimits)
	}
}

func TestValidateTenantName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"default", true},
		{"acme", true},
		{"a", true},
		{"0", true},
		{"t-1_x", true},
		{strings.Repeat("a", 63), true},
		{"_system", true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"Acme", false},
		{"_acme", false},
		{"-acme", false},
		{"ac me", false},
		{"acmé", false},
		{"a.b", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTenantName(tt.name)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateTenantName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && (ErrorCode(err) != EINVALID || err.(*Error).Field != "tenant") {
				t.Fatalf("ValidateTenantName(%q) = %#v, want EINVALID on tenant", tt.name, err)
			}
		})
	}
}

func TestCheckSize(t *testing.T) {
	if err := CheckSize(make([]byte, 64<<10), Limits{}); err != nil {
		t.Errorf("64 KiB: %v", err)
	}
	err := CheckSize(make([]byte, 64<<10+1), Limits{})
	if ErrorCode(err) != ETOOLARGE {
		t.Fatalf("64 KiB + 1: %v, want %s", err, ETOOLARGE)
	}
	if want := "event is 65537 bytes, the limit is 65536"; ErrorMessage(err) != want {
		t.Errorf("message %q, want %q", ErrorMessage(err), want)
	}
	if err := CheckSize(make([]byte, 11), Limits{MaxEventBytes: 10}); ErrorCode(err) != ETOOLARGE {
		t.Errorf("custom limit: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	h := Hash{1}
	e := &Event{Action: "a", Seq: 9, Erased: true, LeafHash: &h, Time: time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600))}
	calls := 0
	e.Normalize(time.Date(2026, 2, 2, 3, 0, 0, 0, time.FixedZone("y", 7200)), func() string { calls++; return "id1" })
	if e.Seq != 0 || e.Erased || e.LeafHash != nil || e.Tenant != DefaultTenant || e.ID != "id1" ||
		e.Outcome != OutcomeUnknown || e.Severity != SeverityInfo || calls != 1 {
		t.Fatalf("Normalize = %+v", e)
	}
	if e.ReceivedAt.Location() != time.UTC || !e.ReceivedAt.Equal(time.Date(2026, 2, 2, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("ReceivedAt = %v", e.ReceivedAt)
	}
	if e.Time.Location() != time.UTC || e.Time.Hour() != 0 {
		t.Errorf("Time = %v, want 2026-01-01T00:00:00Z", e.Time)
	}
	e2 := &Event{ID: "keep", Tenant: "acme", Outcome: "failure", Severity: "high"}
	e2.Normalize(goldenNow, func() string { t.Fatal("newID called for an event with an id"); return "" })
	if e2.ID != "keep" || e2.Tenant != "acme" || e2.Outcome != "failure" || e2.Severity != "high" || !e2.Time.Equal(goldenNow) {
		t.Errorf("Normalize changed client fields: %+v", e2)
	}
}

var uuidv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// constReader returns the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestNewUUIDv7(t *testing.T) {
	now := time.UnixMilli(0x0193a1b2c3d4)
	for _, fill := range []byte{0x00, 0xff, 0x5a} {
		id, err := NewUUIDv7(now, constReader(fill))
		if err != nil {
			t.Fatal(err)
		}
		if !uuidv7.MatchString(id) {
			t.Errorf("NewUUIDv7 with random %#x = %q, not a version 7 RFC 9562 UUID", fill, id)
		}
		if !strings.HasPrefix(id, "0193a1b2-c3d4-7") {
			t.Errorf("NewUUIDv7 = %q, want the 48-bit millisecond time 0193a1b2c3d4 first", id)
		}
	}
	id, _ := NewUUIDv7(now, constReader(0x00))
	if want := "0193a1b2-c3d4-7000-8000-000000000000"; id != want {
		t.Errorf("NewUUIDv7 with zero randomness = %q, want %q", id, want)
	}
	// Later milliseconds sort later as strings.
	prev := ""
	for i := int64(0); i < 1000; i++ {
		id, err := NewUUIDv7(time.UnixMilli(1_700_000_000_000+i*977), constReader(0xff-byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("%q after %q: not ordered by time", id, prev)
		}
		prev = id
	}
	if _, err := NewUUIDv7(now, strings.NewReader("short")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewUUIDv7 with a short reader: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestValueOKAgreesWithCheckValue pins the contract Validate relies on:
// the allocation-free valueOK accepts exactly what checkValue accepts, so
// an invalid value can never pass through the fast path.
func TestValueOKAgreesWithCheckValue(t *testing.T) {
	values := []any{
		nil, true, "ok", "bad\xff", 1.5, math.NaN(), math.Inf(-1), 7, int64(8),
		json.Number("12"), json.Number("1e999"), json.Number("x"),
		[]any{1.0, "a"}, []any{1.0, "bad\xff"}, []any{[]any{math.Inf(1)}},
		map[string]any{"a": 1.0}, map[string]any{"bad\xff": 1.0}, map[string]any{"a": map[string]any{"b": math.NaN()}},
		nested(maxValueDepth), nested(maxValueDepth + 1), nested(maxValueDepth + 2),
		struct{}{}, []string{"typed slices are not JSON values"}, float32(1),
	}
	for _, v := range values {
		ok := valueOK(v, 0)
		err := checkValue("metadata", v, 0)
		if ok != (err == nil) {
			t.Errorf("%#v: valueOK = %v, checkValue = %v", v, ok, err)
		}
	}
}

// TestValidateDoesNotAllocate: validating a well-formed event is on every
// ingest's path and must not allocate.
func TestValidateDoesNotAllocate(t *testing.T) {
	e := validEvent()
	e.Metadata = map[string]any{"plan": "pro", "seats": 12.0, "tags": []any{"a", "b"}, "org": map[string]any{"id": "o_1"}}
	if allocs := testing.AllocsPerRun(100, func() {
		if err := e.Validate(Limits{}); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Validate allocates %.1f times per valid event, want 0", allocs)
	}
}

// checkAppendValid checks that AppendValidCanonicalParts gives what
// Validate followed by AppendCanonicalParts gives: the same leaf parts, or
// the same error.
func checkAppendValid(t *testing.T, e *Event, l Limits) {
	t.Helper()
	dst := []byte("prefix")
	var want []byte
	wantSplit := 0
	wantErr := e.Validate(l)
	if wantErr == nil {
		var err error
		if want, wantSplit, err = e.AppendCanonicalParts(dst); err != nil {
			wantErr = FieldError("", "%v", err)
		}
	}
	got, gotSplit, gotErr := e.AppendValidCanonicalParts(dst, l)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || ErrorCode(gotErr) != ErrorCode(wantErr) {
		t.Fatalf("AppendValidCanonicalParts: error %v (%s), want %v (%s)", gotErr, ErrorCode(gotErr), wantErr, ErrorCode(wantErr))
	}
	if wantErr != nil {
		if string(got) != string(dst) {
			t.Fatalf("AppendValidCanonicalParts failed but returned %q, want dst %q", got, dst)
		}
		return
	}
	if string(got) != string(want) || gotSplit != wantSplit {
		t.Fatalf("AppendValidCanonicalParts = %q, %d; want %q, %d", got, gotSplit, want, wantSplit)
	}
}

// TestAppendValidCanonicalParts holds AppendValidCanonicalParts to
// Validate and AppendCanonicalParts on random events, many of them
// invalid, some only in ways that the canonical encoding notices.
func TestAppendValidCanonicalParts(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	bad := []any{"\xff", math.NaN(), math.Inf(1), json.Number("1e400"), time.Time{}, nested(40), map[string]any{"\xc3": 1.0}}
	for i := 0; i < 20000; i++ {
		e := randTextEvent(r)
		switch r.IntN(8) {
		case 0:
			e.Metadata = map[string]any{"x": pick(r, bad)}
		case 1:
			e.Changes = append(e.Changes, Change{Field: pick(r, []string{"f", "\xff"}), New: pick(r, bad)})
		case 2:
			e.Masked = []string{pick(r, []string{"ok", "\xed\xa0\x80"})}
		case 3:
			e.Actor.Email = "a\xffb"
		}
		checkAppendValid(t, e, Limits{MaxMetadataKeys: 1 + r.IntN(4)})
	}
}

// FuzzAppendValidCanonicalParts holds AppendValidCanonicalParts to
// Validate and AppendCanonicalParts on events decoded as ingest does.
func FuzzAppendValidCanonicalParts(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/canonical/*.json")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"action":"a","actor":{"id":"u","name":"\udc00"},"metadata":{"n":1e400}}`))
	f.Add([]byte(`{"action":"a b","actor":{"id":"u"},"changes":[{"field":"x","old":1e999}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeInput(data)
		if err != nil {
			return
		}
		e.Normalize(goldenNow, goldenID)
		checkAppendValid(t, e, Limits{})
	})
}
