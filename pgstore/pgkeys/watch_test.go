package pgkeys_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgkeys"
)

// node is one trail node: a pool of its own, its Keys and, when started
// with a watcher, the watcher.
type node struct {
	keys    *auth.Keys
	appName string // application_name of the watcher's connection
	reloads atomic.Int64
	stop    func() error // stops the watcher and returns what Watch returned
}

func startNode(t *testing.T, db database, name string, watch bool) *node {
	t.Helper()
	store := pgkeys.New(db.pool(t), nil)
	keys, err := auth.NewKeys(t.Context(), store, nil, nil)
	if err != nil {
		t.Fatalf("node %s: NewKeys: %v", name, err)
	}
	n := &node{keys: keys, appName: "trail-keys-watch " + db.schema + " " + name}
	if !watch {
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- store.Watch(ctx, keys, pgkeys.WatchOptions{
			Logger:          slog.New(slog.NewTextHandler(testWriter{t, name}, nil)),
			ApplicationName: n.appName,
			OnReload: func(err error) {
				if err != nil {
					t.Logf("node %s: reload: %v", name, err)
				}
				n.reloads.Add(1)
			},
			PingEvery:  50 * time.Millisecond, // ping often, so that pings race with notifications
			MinBackoff: 20 * time.Millisecond,
			MaxBackoff: 200 * time.Millisecond,
		})
	}()
	var once sync.Once
	var result error
	n.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				result = errors.New("Watch did not return within 10s of its context's end")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := n.stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("node %s: Watch returned %v, want context.Canceled", name, err)
		}
	})
	waitFor(t, "node "+name+" is listening", func() bool { return n.reloads.Load() > 0 })
	return n
}

// testWriter sends a node's log to the test log.
type testWriter struct {
	t    *testing.T
	node string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("node %s: %s", w.node, strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond until it holds, failing t after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refusal returns the message of the error authenticating token on k, or
// "" when it is accepted.
func refusal(t *testing.T, k *auth.Keys, token string) string {
	_, err := k.Authenticate(t.Context(), token)
	if err == nil {
		return ""
	}
	var e *trail.Error
	if !errors.As(err, &e) || e.Code != trail.EUNAUTHENTICATED {
		t.Fatalf("Authenticate: %v, want nil or EUNAUTHENTICATED", err)
	}
	return e.Message
}

func TestTwoNodes(t *testing.T) {
	db := newDatabase(t)
	a, b := startNode(t, db, "a", true), startNode(t, db, "b", true)

	key, token, err := a.keys.Create(t.Context(), "ci", auth.Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b accepts a key created on a", func() bool { return refusal(t, b.keys, token) == "" })

	start := time.Now()
	if _, err := a.keys.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b refuses a key revoked on a", func() bool { return refusal(t, b.keys, token) == "API key revoked" })
	t.Logf("the revocation took effect on the other node %v after Revoke was called", time.Since(start))

	other, oldToken, err := b.keys.Create(t.Context(), "ops", auth.Viewer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a accepts a key created on b", func() bool { return refusal(t, a.keys, oldToken) == "" })
	_, newToken, err := a.keys.Rotate(t.Context(), other.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b accepts the secret rotated on a", func() bool { return refusal(t, b.keys, newToken) == "" })
	if got := refusal(t, b.keys, oldToken); got != "API key secret was replaced by rotation" {
		t.Errorf("b: the replaced secret: %q, want it replaced by rotation", got)
	}
}

func TestTwoNodesCreateConcurrently(t *testing.T) {
	db := newDatabase(t)
	nodes := []*node{startNode(t, db, "a", true), startNode(t, db, "b", true)}
	const workers, each = 4, 10
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range workers {
			wg.Go(func() {
				for range each {
					if _, _, err := n.keys.Create(t.Context(), "k", auth.Writer, "acme", nil); err != nil {
						t.Errorf("Create: %v", err)
					}
				}
			})
		}
	}
	wg.Wait()
	want := len(nodes) * workers * each
	for i, n := range nodes {
		waitFor(t, "every node lists every key", func() bool { return len(n.keys.List(t.Context(), "")) == want })
		t.Logf("node %d: %d reloads", i, n.reloads.Load())
	}
	fresh := startNode(t, db, "fresh", false)
	if got := len(fresh.keys.List(t.Context(), "")); got != want {
		t.Errorf("a fresh node loads %d keys, want %d", got, want)
	}
}

// A node that has not heard of a revocation (no watcher here) decides on
// the stored key: it can neither rotate the key back to life nor un-revoke
// it by recording a use.
func TestStaleNodeCannotUndoRevocation(t *testing.T) {
	db := newDatabase(t)
	a, b := startNode(t, db, "a", false), startNode(t, db, "b", false)
	key, token, err := a.keys.Create(t.Context(), "ci", auth.Viewer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.keys.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.keys.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, b.keys, token); got != "" { // stale, and records the use
		t.Fatalf("b without a watcher refuses already (%q); the test cannot tell", got)
	}
	_, tok, err := b.keys.Rotate(t.Context(), key.ID, time.Hour)
	var e *trail.Error
	if !errors.As(err, &e) || e.Code != trail.ECONFLICT || tok != "" {
		t.Errorf("Rotate on a stale node = %q, %v; want ECONFLICT", tok, err)
	}
	fresh := startNode(t, db, "fresh", false)
	if got := refusal(t, fresh.keys, token); got != "API key revoked" {
		t.Errorf("after a stale node's use and Rotate: %q, want the key still revoked", got)
	}
	stored, err := fresh.keys.Get(t.Context(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.LastUsedAt == nil {
		t.Error("the stale node's use was not recorded")
	}
}

func TestBootstrapOnce(t *testing.T) {
	db := newDatabase(t)
	nodes := make([]*node, 4)
	for i := range nodes {
		nodes[i] = startNode(t, db, string(rune('a'+i)), false)
	}
	tokens := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			tok, err := n.keys.Bootstrap(t.Context(), "")
			if err != nil {
				t.Errorf("Bootstrap: %v", err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	var winners []string
	for _, tok := range tokens {
		if tok != "" {
			winners = append(winners, tok)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d nodes bootstrapped, want exactly 1", len(winners))
	}
	for i, n := range nodes {
		if got := refusal(t, n.keys, winners[0]); got != "" {
			t.Errorf("node %d refuses the bootstrap key: %s", i, got)
		}
	}
	if got := len(startNode(t, db, "fresh", false).keys.List(t.Context(), "")); got != 1 {
		t.Errorf("%d keys stored, want 1", got)
	}
}

// When the listening connection drops, Watch reconnects and reloads, which
// finds changes whose notification it missed.
func TestWatchReconnects(t *testing.T) {
	db := newDatabase(t)
	a, b := startNode(t, db, "a", false), startNode(t, db, "b", true)
	key, token, err := a.keys.Create(t.Context(), "ci", auth.Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b accepts a's key", func() bool { return refusal(t, b.keys, token) == "" })

	// Revoke behind every node's back, without a notification: only a
	// reload can reveal it.
	sql := db.conn(t)
	if _, err := sql.Exec(t.Context(), `UPDATE trail_keys SET key = jsonb_set(key, '{revoked_at}', to_jsonb($2::text)) WHERE id = $1`,
		key.ID, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, b.keys, token); got != "" {
		t.Fatalf("b refuses before losing its connection (%q); the test cannot tell", got)
	}

	before := b.reloads.Load()
	listeners := func() int {
		var n int
		if err := sql.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, b.appName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := listeners(); n != 1 {
		t.Fatalf("%d listening connections named %q, want 1", n, b.appName)
	}
	var pid int32
	if err := sql.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, b.appName).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var terminated bool
	if err := sql.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, terminated, err)
	}

	waitFor(t, "b refuses the key after reconnecting", func() bool { return refusal(t, b.keys, token) == "API key revoked" })
	if b.reloads.Load() <= before {
		t.Error("b refuses the key without having reloaded")
	}
	waitFor(t, "b listens again", func() bool { return listeners() == 1 })

	// Notifications reach b again.
	_, token2, err := a.keys.Create(t.Context(), "ci2", auth.Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b accepts a key created after the reconnection", func() bool { return refusal(t, b.keys, token2) == "" })

	// Stopping Watch closes its connection.
	if err := b.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}
	waitFor(t, "b's listening connection is closed", func() bool { return listeners() == 0 })
}

// The role "trail serve" connects as (pgstore.RolesSQL) may do everything
// Keys and Watch do: it has SELECT, INSERT and UPDATE on trail_keys, which
// also allow SELECT … FOR UPDATE and LOCK TABLE … IN EXCLUSIVE MODE.
func TestServingRole(t *testing.T) {
	db := newDatabase(t)
	admin := db.conn(t)
	app, retention := db.schema+"_app", db.schema+"_retention"
	for _, r := range []string{app, retention} {
		if _, err := admin.Exec(t.Context(), "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			admin.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
			if _, err := admin.Exec(ctx, "DROP ROLE "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		})
	}
	for _, stmt := range pgstore.RolesSQL(db.schema, app, retention) {
		if _, err := admin.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	cfg, err := pgxpool.ParseConfig(db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = app
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	store := pgkeys.New(pool, nil)
	keys, err := auth.NewKeys(t.Context(), store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	reloads := make(chan error, 100)
	done := make(chan error, 1)
	go func() {
		done <- store.Watch(ctx, keys, pgkeys.WatchOptions{OnReload: func(err error) {
			select {
			case reloads <- err:
			default:
			}
		}})
	}()
	defer func() { cancel(); <-done }()
	if err := <-reloads; err != nil {
		t.Fatalf("first reload as %s: %v", app, err)
	}

	if _, err := keys.Bootstrap(t.Context(), ""); err != nil {
		t.Fatalf("Bootstrap as %s: %v", app, err)
	}
	key, token, err := keys.Create(t.Context(), "ci", auth.Writer, "acme", nil)
	if err != nil {
		t.Fatalf("Create as %s: %v", app, err)
	}
	if _, err := keys.Authenticate(t.Context(), token); err != nil { // Touch
		t.Fatal(err)
	}
	if _, _, err := keys.Rotate(t.Context(), key.ID, time.Minute); err != nil {
		t.Fatalf("Rotate as %s: %v", app, err)
	}
	if _, err := keys.Revoke(t.Context(), key.ID); err != nil {
		t.Fatalf("Revoke as %s: %v", app, err)
	}
	stored, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || slices.IndexFunc(stored, func(k auth.Key) bool { return k.ID == key.ID && k.RevokedAt != nil && k.LastUsedAt != nil }) < 0 {
		t.Errorf("stored as %s: %+v", app, stored)
	}
}
