package schema_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/schema"
)

var epoch = time.Date(2026, 11, 22, 10, 4, 5, 123456789, time.UTC)

func newRegistry(t *testing.T, store schema.Store) *schema.Registry {
	t.Helper()
	r, err := schema.New(t.Context(), store, func() time.Time { return epoch })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func event(action string, md map[string]any) *trail.Event {
	return &trail.Event{Tenant: "acme", Action: action, Actor: trail.Actor{ID: "u1"}, Metadata: md}
}

func TestRegistryVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "schemas.json")
	r := newRegistry(t, schema.NewFileStore(path))
	if got := r.List("acme"); len(got) != 0 {
		t.Fatalf("empty registry lists %v", got)
	}
	if err := r.Validate("acme", event("invoice.paid", map[string]any{"amount": -1.0})); err != nil {
		t.Fatalf("no schema: %v, want nil", err)
	}
	v1, err := r.Put(ctx, "acme", "invoice.paid", []byte(`{"type": "object", "properties": {"amount": {"type": "number"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Tenant != "acme" || v1.Action != "invoice.paid" || !v1.CreatedAt.Equal(epoch.Truncate(time.Microsecond)) {
		t.Fatalf("first version: %+v", v1)
	}
	if string(v1.Schema) != `{"type":"object","properties":{"amount":{"type":"number"}}}` {
		t.Errorf("stored schema %s, want the document compacted", v1.Schema)
	}
	if err := r.Validate("acme", event("invoice.paid", map[string]any{"amount": -1.0})); err != nil {
		t.Fatalf("version 1 has no minimum: %v", err)
	}
	v2, err := r.Put(ctx, "acme", "invoice.paid", []byte(`{"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}}`))
	if err != nil || v2.Version != 2 {
		t.Fatalf("second Put: %+v, %v", v2, err)
	}
	if _, err := r.Put(ctx, "acme", "user.login", []byte(`{"required": ["method"]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Put(ctx, "other", "invoice.paid", []byte(`false`)); err != nil {
		t.Fatal(err)
	}

	// The latest version applies, per tenant and action.
	wantError(t, r.Validate("acme", event("invoice.paid", map[string]any{"amount": -1.0})), trail.EINVALID, "metadata.amount", "minimum: must be >= 0")
	wantError(t, r.Validate("acme", event("user.login", nil)), trail.EINVALID, "metadata.method", "required: missing property method")
	wantError(t, r.Validate("other", event("invoice.paid", map[string]any{})), trail.EINVALID, "metadata", "false")
	if err := r.Validate("acme", event("invoice.sent", map[string]any{"amount": -1.0})); err != nil {
		t.Errorf("action without a schema: %v", err)
	}
	if err := r.Validate("third", event("invoice.paid", nil)); err != nil {
		t.Errorf("tenant without schemas: %v", err)
	}

	check := func(r *schema.Registry) {
		t.Helper()
		list := r.List("acme")
		if len(list) != 2 || list[0].Action != "invoice.paid" || list[0].Version != 2 || list[1].Action != "user.login" || list[1].Version != 1 {
			t.Fatalf("List: %+v, want invoice.paid v2 and user.login v1", list)
		}
		vs := r.Versions("acme", "invoice.paid")
		if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || string(vs[0].Schema) != string(v1.Schema) {
			t.Fatalf("Versions: %+v", vs)
		}
		got, err := r.Get("acme", "invoice.paid", 1)
		if err != nil || got.Version != 1 || string(got.Schema) != string(v1.Schema) {
			t.Fatalf("Get version 1: %+v, %v", got, err)
		}
		got, err = r.Get("acme", "invoice.paid", 0)
		if err != nil || got.Version != 2 {
			t.Fatalf("Get latest: %+v, %v", got, err)
		}
		if _, err := r.Get("acme", "invoice.paid", 3); trail.ErrorCode(err) != trail.ENOTFOUND {
			t.Fatalf("Get version 3: %v, want not_found", err)
		}
		if _, err := r.Get("acme", "nothing", 0); trail.ErrorCode(err) != trail.ENOTFOUND {
			t.Fatalf("Get of an action without schema: %v, want not_found", err)
		}
	}
	check(r)
	// A second registry on the same file sees the same (as after a restart).
	r2 := newRegistry(t, schema.NewFileStore(path))
	check(r2)
	wantError(t, r2.Validate("acme", event("invoice.paid", map[string]any{"amount": -1.0})), trail.EINVALID, "metadata.amount", "minimum")
	// The next version continues the numbering.
	v3, err := r2.Put(ctx, "acme", "invoice.paid", []byte(`{}`))
	if err != nil || v3.Version != 3 {
		t.Fatalf("Put after a restart: %+v, %v", v3, err)
	}
	// Returned versions are copies.
	got, _ := r2.Get("acme", "invoice.paid", 1)
	got.Schema[0] = 'X'
	if again, _ := r2.Get("acme", "invoice.paid", 1); again.Schema[0] != '{' {
		t.Fatal("Get shares its schema with the cache")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("schemas file: %v, mode %v, want 0600", err, info.Mode())
	}
}

func TestRegistryRejects(t *testing.T) {
	r := newRegistry(t, &schema.MemStore{})
	tests := []struct {
		tenant, action, doc string
		code, field         string
	}{
		{"Bad Name", "a", `{}`, trail.EINVALID, "tenant"},
		{"acme", "", `{}`, trail.EINVALID, "action"},
		{"acme", "has space", `{}`, trail.EINVALID, "action"},
		{"acme", "trail.settings.updated", `{}`, trail.EINVALID, "action"},
		{"acme", "a", `{"type": 3}`, trail.EINVALID, "type"},
		{"acme", "a", `{"$ref": "https://example.com/s.json"}`, trail.EINVALID, "$ref"},
		{"acme", "a", `{"description":"` + strings.Repeat("x", 70000) + `"}`, trail.ETOOLARGE, ""},
	}
	for _, tt := range tests {
		_, err := r.Put(t.Context(), tt.tenant, tt.action, []byte(tt.doc))
		if te := asError(err); te == nil || te.Code != tt.code || te.Field != tt.field {
			t.Errorf("Put(%q, %q, %.40s): %v, want %s on %q", tt.tenant, tt.action, tt.doc, err, tt.code, tt.field)
		}
	}
	if got := r.List("acme"); len(got) != 0 {
		t.Fatalf("rejected Puts stored %+v", got)
	}
}

func asError(err error) *trail.Error {
	te, _ := err.(*trail.Error)
	return te
}

// TestLoadRefusesBrokenStore: a stored latest version that does not
// compile stops the registry from loading, naming it.
func TestLoadRefusesBrokenStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schemas.json")
	doc := `{"version": 1, "schemas": [
		{"tenant": "acme", "action": "a", "version": 1, "schema": {"$ref": "https://example.com/x"}, "created_at": "2026-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := schema.New(t.Context(), schema.NewFileStore(path), nil)
	if err == nil || !strings.Contains(err.Error(), "tenant acme, action a: version 1 does not compile") {
		t.Fatalf("New: %v, want an error naming tenant, action and version", err)
	}
}

// TestRegistryConcurrent runs Puts, Reloads and Validates at once (run it
// with -race): versions come out 1..n without gaps or repeats, and the
// latest applies.
func TestRegistryConcurrent(t *testing.T) {
	ctx := context.Background()
	store := schema.NewFileStore(filepath.Join(t.TempDir(), "schemas.json"))
	r := newRegistry(t, store)
	const writers, each = 4, 5
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				doc := fmt.Sprintf(`{"properties": {"n": {"maximum": %d}}}`, i*each+j)
				if _, err := r.Put(ctx, "acme", "count", []byte(doc)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := r.Validate("acme", event("count", map[string]any{"n": 1000.0}))
				if err != nil && trail.ErrorCode(err) != trail.EINVALID {
					t.Error(err)
				}
				_ = r.List("acme")
				_ = r.Versions("acme", "count")
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.Reload(ctx); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	vs := r.Versions("acme", "count")
	if len(vs) != writers*each {
		t.Fatalf("%d versions, want %d", len(vs), writers*each)
	}
	for i, v := range vs {
		if v.Version != i+1 {
			t.Fatalf("version %d at index %d", v.Version, i)
		}
	}
	// The latest stored document is the one that applies.
	last := vs[len(vs)-1]
	r2 := newRegistry(t, store)
	for _, reg := range []*schema.Registry{r, r2} {
		got, _ := reg.Get("acme", "count", 0)
		if got.Version != last.Version || string(got.Schema) != string(last.Schema) {
			t.Fatalf("latest %+v, want %+v", got, last)
		}
	}
}

// TestValidateWithoutSchemaAllocatesNothing: the ingest path of an action
// without a schema is a map lookup.
func TestValidateWithoutSchemaAllocatesNothing(t *testing.T) {
	r := newRegistry(t, &schema.MemStore{})
	if _, err := r.Put(t.Context(), "acme", "other", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	e := event("user.login", map[string]any{"x": 1.0})
	if n := testing.AllocsPerRun(100, func() {
		if r.Validate("acme", e) != nil || r.Validate("nobody", e) != nil {
			t.Fatal("rejected")
		}
	}); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}

func BenchmarkValidate(b *testing.B) {
	r, err := schema.New(context.Background(), &schema.MemStore{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Put(context.Background(), "acme", "order.placed", []byte(order)); err != nil {
		b.Fatal(err)
	}
	md := map[string]any{"amount": 12.5, "currency": "EUR", "customer": map[string]any{"id": "c1"},
		"lines": []any{map[string]any{"sku": "a", "qty": 2.0}, map[string]any{"sku": "b", "qty": 1.0}}}
	for _, bc := range []struct {
		name string
		e    *trail.Event
	}{
		{"no schema", event("user.login", md)},
		{"schema", event("order.placed", md)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Validate("acme", bc.e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
