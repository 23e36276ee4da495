package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	trail "github.com/trail-audit/trail"
)

// Files "trail bench" keeps in a --data directory besides the server's
// own, so that a later run with --reuse can measure the same store again.
const (
	// benchMarkerFile records which store the directory belongs to; it
	// is written once the batched and single-event ingest have finished,
	// so a directory whose load was cut short is never reused.
	benchMarkerFile = "bench.json"
	// benchOperatorFile holds the bootstrap operator key of the run that
	// loaded the store (mode 0600), the key a --reuse run signs in with.
	benchOperatorFile = "bench-operator.key"
)

// benchMarker is the content of bench.json:
//
//	{"store":"postgres","schema":"trail_bench_10m","events":10000000,"single_events":20000,"seed":1,"tenants":1000}
type benchMarker struct {
	Store        string `json:"store"`
	Schema       string `json:"schema,omitempty"` // with store postgres
	Events       int    `json:"events"`
	SingleEvents int    `json:"single_events"`
	Seed         uint64 `json:"seed"`
	Tenants      int    `json:"tenants"`
}

// benchSchemaName is what --schema accepts: a lower-case PostgreSQL
// identifier that needs no quoting.
var benchSchemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// writeBenchMarker records in dir that it holds a completely loaded store.
func writeBenchMarker(dir string, cfg benchConfig) error {
	m := benchMarker{Store: cfg.Store, Schema: cfg.Schema, Events: cfg.Events, SingleEvents: cfg.SingleEvents, Seed: cfg.Seed, Tenants: cfg.Tenants}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, benchMarkerFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	return nil
}

// checkReuseDir checks that dir holds a store loaded by an earlier run of
// "trail bench" with the same --store (and --schema), and returns the
// operator key to sign in with. Errors name the flag to change.
func checkReuseDir(dir string, cfg benchConfig) (string, error) {
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("--reuse: --data %s does not exist; load a store first with --data %s (without --reuse)", dir, dir)
		}
		return "", fmt.Errorf("--data: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, benchMarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("--reuse: --data %s holds no store loaded to the end by trail bench (no %s); load one first with --data (without --reuse)", dir, benchMarkerFile)
	}
	if err != nil {
		return "", fmt.Errorf("--data: %w", err)
	}
	var m benchMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("--data: %s: %w", filepath.Join(dir, benchMarkerFile), err)
	}
	switch {
	case m.Store != cfg.Store && m.Store == benchStorePostgres:
		return "", fmt.Errorf("--reuse: --data %s belongs to a postgres store (schema %s), not --store %s; pass --store postgres --schema %s", dir, m.Schema, cfg.Store, m.Schema)
	case m.Store != cfg.Store:
		return "", fmt.Errorf("--reuse: --data %s holds an %s store, not --store %s", dir, m.Store, cfg.Store)
	case m.Store == benchStorePostgres && m.Schema != cfg.Schema:
		return "", fmt.Errorf("--reuse: --data %s belongs to schema %s, not --schema %s", dir, m.Schema, cfg.Schema)
	}
	key, err := os.ReadFile(filepath.Join(dir, benchOperatorFile))
	if err != nil {
		return "", fmt.Errorf("--reuse: --data %s: operator key: %w", dir, err)
	}
	return strings.TrimSpace(string(key)), nil
}

// storedTenants lists the tenants of the server's store with their sizes
// (GET /v1/tenants), leaving out the system tenant, and returns the sizes
// by name and their sum.
func (b *bench) storedTenants(ctx context.Context) (map[string]int, int64, error) {
	var out struct {
		Tenants []trail.Tenant `json:"tenants"`
	}
	if err := b.c.getJSON(ctx, "/v1/tenants", nil, &out); err != nil {
		return nil, 0, fmt.Errorf("list tenants: %w", err)
	}
	counts := map[string]int{}
	var total int64
	for _, t := range out.Tenants {
		if t.Name == trail.SystemTenant || t.Size == 0 {
			continue
		}
		counts[t.Name] = int(t.Size)
		total += t.Size
	}
	if len(counts) == 0 {
		return nil, 0, errors.New("the store has no tenant with events")
	}
	return counts, total, nil
}

// pickTenants chooses the largest tenant and a mid one (the 95th
// percentile of tenants by size) from counts.
func pickTenants(counts map[string]int) (largest, mid string) {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	slices.SortFunc(names, func(x, y string) int {
		if c := counts[y] - counts[x]; c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	return names[0], names[min(len(names)-1, max(1, len(names)/20))]
}

// sampleStoredRows reads the events of tenant, a log of size events, that
// a --reuse run draws its query samples from: pages of up to 1000 events
// (GET /v1/events) ending at random seqs, 20 of them, so that the samples
// spread over the whole log at the cost of 20 queries rather than an
// export of the tenant. trail's own records of API use (trail.events.query
// and the like, one per query of earlier runs) are left out.
func (b *bench) sampleStoredRows(ctx context.Context, tenant string, size int) ([]*benchRow, error) {
	const pages, perPage = 20, 1000
	rng := mrand.New(mrand.NewPCG(b.cfg.Seed, 13))
	var rows []*benchRow
	for range pages {
		q := url.Values{"tenant": {tenant}, "limit": {strconv.Itoa(perPage)}}
		if size > perPage {
			q.Set("cursor", trail.EncodeCursor(int64(perPage+rng.IntN(size-perPage+1)), trail.OrderDesc))
		}
		var page struct {
			Events []trail.Event `json:"events"`
		}
		if err := b.c.getJSON(ctx, "/v1/events", q, &page); err != nil {
			return nil, err
		}
		for _, ev := range page.Events {
			if strings.HasPrefix(ev.Action, "trail.") || ev.Erased {
				continue
			}
			r := &benchRow{tenant: ev.Tenant, action: ev.Action, outcome: ev.Outcome, actor: ev.Actor.ID, reason: ev.Reason, time: ev.Time}
			if r.outcome == "" {
				r.outcome = trail.OutcomeUnknown
			}
			if ev.Source != nil {
				r.ip = ev.Source.IP
			}
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("tenant %s has no events to sample", tenant)
	}
	return rows, nil
}

// processMemory returns the process's resident set size and its peak in
// MB where the system publishes them (Linux /proc/self/status), else 0.
func processMemory() (rss, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &kb); err == nil {
			rss = kb / 1024
		} else if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
			peak = kb / 1024
		}
	}
	return rss, peak
}
