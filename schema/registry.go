// Package schema keeps every tenant's action schemas: per tenant and
// action, a JSON Schema (draft 2020-12, https://json-schema.org/draft/2020-12)
// that the metadata of the action's events must satisfy before they are
// stored (DESIGN.md §2, §3, §7).
//
// Schemas are versioned: every Put stores a new version (1, 2, …) and
// keeps the older ones, which stay readable; the latest version is the one
// that applies. An action without a schema accepts any metadata.
//
// A Registry caches every version and the compiled latest one in memory,
// so that validating an event of an action without a schema costs two map
// lookups, and persists every change to a Store before it takes effect: a
// FileStore in the data directory for the embedded store, a table for
// PostgreSQL (package pgstore/pgschemas), whose other nodes reload on
// notification.
//
// Schemas are compiled by github.com/santhosh-tekuri/jsonschema/v6 with
// the limits of Compile: self-contained documents only (nothing is loaded
// from the network or from files), at most MaxSchemaBytes, MaxSchemaDepth
// and MaxComplexity; validating one event's metadata is bounded by
// MaxChecks.
package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trail-audit/trail"
)

// Version is one stored version of an action's schema. Its JSON form is
// what the API returns:
//
//	{"tenant": "acme", "action": "invoice.paid", "version": 2,
//	 "schema": {"type": "object", "required": ["amount"], …},
//	 "created_at": "2026-11-22T10:04:05.123456Z"}
type Version struct {
	Tenant    string          `json:"tenant"`
	Action    string          `json:"action"`
	Version   int             `json:"version"`
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
}

func (v Version) clone() Version {
	v.Schema = bytes.Clone(v.Schema)
	return v
}

// entry is everything known about one tenant's action: its versions,
// oldest first, and the compiled latest one. Entries are never modified
// once published in a snapshot.
type entry struct {
	versions []Version
	compiled *Compiled
}

func (e *entry) latest() Version { return e.versions[len(e.versions)-1] }

// snapshot is an immutable view: tenant → action → entry.
type snapshot struct {
	tenants map[string]map[string]*entry
}

// Registry is the in-memory view of every tenant's action schemas. It is
// safe for concurrent use; Validate takes no lock.
type Registry struct {
	store Store
	now   func() time.Time

	putMu sync.Mutex // serialises changes, so a Reload never undoes a newer Put
	snap  atomic.Pointer[snapshot]
}

// New loads store's schemas and compiles the latest version of each
// action. now stamps new versions; nil means time.Now. It fails when a
// stored latest version no longer compiles.
func New(ctx context.Context, store Store, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{store: store, now: now}
	r.snap.Store(&snapshot{})
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload replaces the cache with the store's content. Compiled schemas of
// versions that did not change are kept. On error the cache is unchanged.
func (r *Registry) Reload(ctx context.Context) error {
	r.putMu.Lock()
	defer r.putMu.Unlock()
	vs, err := r.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("schema: load: %w", err)
	}
	slices.SortFunc(vs, compareVersions)
	old := r.snap.Load()
	next := &snapshot{tenants: map[string]map[string]*entry{}}
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && vs[j].Tenant == vs[i].Tenant && vs[j].Action == vs[i].Action {
			j++
		}
		group := vs[i:j:j]
		i = j
		last := group[len(group)-1]
		where := fmt.Sprintf("schema: tenant %s, action %s", last.Tenant, last.Action)
		if err := trail.ValidateTenantName(last.Tenant); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := checkAction(last.Action); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for k, v := range group {
			if v.Version < 1 || k > 0 && v.Version == group[k-1].Version {
				return fmt.Errorf("%s: bad or repeated version %d", where, v.Version)
			}
		}
		e := &entry{versions: group}
		if prev := old.get(last.Tenant, last.Action); prev != nil && prev.latest().Version == last.Version && bytes.Equal(prev.latest().Schema, last.Schema) {
			e.compiled = prev.compiled
		} else if e.compiled, err = Compile(last.Schema); err != nil {
			return fmt.Errorf("%s: version %d does not compile: %w", where, last.Version, err)
		}
		acts := next.tenants[last.Tenant]
		if acts == nil {
			acts = map[string]*entry{}
			next.tenants[last.Tenant] = acts
		}
		acts[last.Action] = e
	}
	r.snap.Store(next)
	return nil
}

func (s *snapshot) get(tenant, action string) *entry {
	if s == nil {
		return nil
	}
	return s.tenants[tenant][action]
}

// checkAction applies the rules of an event's action (trail.Event.Validate)
// and refuses trail's own actions, whose events do not pass through
// ingest.
func checkAction(action string) error {
	if action == "" {
		return trail.FieldError("action", "required")
	}
	if len(action) > 200 {
		return trail.FieldError("action", "at most 200 bytes")
	}
	for i := 0; i < len(action); i++ {
		c := action[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
		if !ok {
			return trail.FieldError("action", "may hold only letters, digits and . _ - : / (got %q)", action)
		}
	}
	if strings.HasPrefix(action, "trail.") {
		return trail.FieldError("action", "actions trail.* are trail's own events and cannot have a schema")
	}
	return nil
}

// Put compiles doc (see Compile for the rules and the errors) and stores
// it as the next version of tenant's action, which applies from then on.
// It returns the stored version. Invalid input is an EINVALID (or
// ETOOLARGE) *trail.Error naming the field; a store failure is returned
// wrapped.
func (r *Registry) Put(ctx context.Context, tenant, action string, doc []byte) (Version, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return Version{}, err
	}
	if err := checkAction(action); err != nil {
		return Version{}, err
	}
	c, err := Compile(doc)
	if err != nil {
		return Version{}, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return Version{}, trail.FieldError("", "a schema must be one JSON document: %v", err)
	}
	r.putMu.Lock()
	defer r.putMu.Unlock()
	v, err := r.store.Add(ctx, Version{Tenant: tenant, Action: action, Schema: compact.Bytes(),
		CreatedAt: r.now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return Version{}, fmt.Errorf("schema: store: %w", err)
	}
	old := r.snap.Load()
	next := &snapshot{tenants: maps.Clone(old.tenants)}
	if next.tenants == nil {
		next.tenants = map[string]map[string]*entry{}
	}
	acts := maps.Clone(next.tenants[tenant])
	if acts == nil {
		acts = map[string]*entry{}
	}
	e := &entry{compiled: c}
	if prev := acts[action]; prev != nil {
		e.versions = slices.Clone(prev.versions)
		if prev.latest().Version > v.Version { // a newer version from another node is known already
			e.compiled = prev.compiled
		}
	}
	e.versions = append(e.versions, v)
	slices.SortFunc(e.versions, compareVersions)
	acts[action] = e
	next.tenants[tenant] = acts
	r.snap.Store(next)
	return v.clone(), nil
}

// List returns the latest version of each of tenant's actions that has a
// schema, by action.
func (r *Registry) List(tenant string) []Version {
	acts := r.snap.Load().tenants[tenant]
	out := make([]Version, 0, len(acts))
	for _, a := range sortedKeys(acts) {
		out = append(out, acts[a].latest().clone())
	}
	return out
}

// Versions returns every version of tenant's action, oldest first; none
// when the action has no schema.
func (r *Registry) Versions(tenant, action string) []Version {
	e := r.snap.Load().get(tenant, action)
	if e == nil {
		return []Version{}
	}
	out := make([]Version, len(e.versions))
	for i, v := range e.versions {
		out[i] = v.clone()
	}
	return out
}

// Get returns version of tenant's action; version 0 means the latest. It
// returns an ENOTFOUND *trail.Error when there is no such version.
func (r *Registry) Get(tenant, action string, version int) (Version, error) {
	e := r.snap.Load().get(tenant, action)
	if e == nil {
		return Version{}, trail.Errorf(trail.ENOTFOUND, "action %s has no schema", action)
	}
	if version == 0 {
		return e.latest().clone(), nil
	}
	i, ok := slices.BinarySearchFunc(e.versions, version, func(v Version, n int) int { return v.Version - n })
	if !ok {
		return Version{}, trail.Errorf(trail.ENOTFOUND, "action %s has no schema version %d", action, version)
	}
	return e.versions[i].clone(), nil
}

// Validate checks e's metadata against the latest schema of tenant and
// e.Action. It returns nil when no schema applies (at the cost of two map
// lookups) or the metadata satisfies it, and otherwise an EINVALID
// *trail.Error whose Field is the path of the failing value in the event,
// such as "metadata.amount" or "metadata.lines[2].sku", and whose message
// names the rule, such as "minimum: must be >= 0" or "required: missing
// property currency". Metadata that could take more than MaxChecks checks
// is refused unchecked with an ETOOLARGE *trail.Error. Absent metadata is
// validated as an empty object. It is safe to call concurrently and takes
// no lock.
func (r *Registry) Validate(tenant string, e *trail.Event) error {
	ent := r.snap.Load().tenants[tenant][e.Action]
	if ent == nil {
		return nil
	}
	var md any = e.Metadata
	if e.Metadata == nil {
		md = map[string]any{}
	}
	return ent.compiled.Validate("metadata", md)
}
