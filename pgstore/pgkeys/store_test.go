package pgkeys_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgkeys"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// database is one fresh, migrated schema.
type database struct {
	schema, dsn string
}

func newDatabase(t *testing.T) database {
	t.Helper()
	schema, dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := pgstore.Migrate(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	return database{schema, dsn}
}

// pool returns a new connection pool on the schema, as one node has.
func (db database) pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// conn returns a plain connection on the schema, for looking behind the
// store's back.
func (db database) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// fullKey has every field set, times to the nanosecond.
func fullKey() auth.Key {
	return auth.Key{
		ID: "3f2a9c0d1e4b5a6c", Name: "ci – déploiement", Role: auth.Auditor, Tenant: "acme",
		CreatedAt:      *at("2025-01-02T03:04:05.123456789Z"),
		ExpiresAt:      at("2026-01-02T03:04:05.000000001Z"),
		RevokedAt:      at("2025-06-07T08:09:10.5Z"),
		LastUsedAt:     at("2025-05-06T07:08:09.987654321Z"),
		Hash:           auth.HashToken("new"),
		PrevHash:       auth.HashToken("old"),
		PrevValidUntil: at("2025-03-04T05:06:07.000001Z"),
	}
}

// sameKey reports whether two keys have equal fields, comparing times with
// Equal.
func sameKey(a, b auth.Key) bool {
	sameTime := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	return a.ID == b.ID && a.Name == b.Name && a.Role == b.Role && a.Tenant == b.Tenant &&
		a.CreatedAt.Equal(b.CreatedAt) && sameTime(a.ExpiresAt, b.ExpiresAt) &&
		sameTime(a.RevokedAt, b.RevokedAt) && sameTime(a.LastUsedAt, b.LastUsedAt) &&
		a.Hash == b.Hash && a.PrevHash == b.PrevHash && sameTime(a.PrevValidUntil, b.PrevValidUntil)
}

func put(t *testing.T, s *pgkeys.Store, k auth.Key) {
	t.Helper()
	if _, err := s.Update(t.Context(), k.ID, func(*auth.Key) (auth.Key, error) { return k, nil }); err != nil {
		t.Fatalf("Update(%s): %v", k.ID, err)
	}
}

func TestRoundTrip(t *testing.T) {
	db := newDatabase(t)
	s := pgkeys.New(db.pool(t), nil)
	tests := []struct {
		name string
		key  auth.Key
	}{
		{"every field", fullKey()},
		{"only required fields", auth.Key{ID: "0000000000000001", Name: "w", Role: auth.Writer, Tenant: auth.AllTenants,
			CreatedAt: *at("2025-01-02T03:04:05Z"), Hash: auth.HashToken("w")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put(t, s, tt.key)
			keys, err := s.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(keys, func(k auth.Key) bool { return k.ID == tt.key.ID })
			if i < 0 {
				t.Fatalf("Load did not return key %s", tt.key.ID)
			}
			if !sameKey(keys[i], tt.key) {
				t.Errorf("Load = %+v\nwant   %+v", keys[i], tt.key)
			}
		})
	}

	// The row is in the format of keys.json, hashes included.
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := auth.NewFileStore(path).Save(t.Context(), []auth.Key{fullKey()}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Keys []map[string]any }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := db.conn(t).QueryRow(t.Context(), `SELECT key FROM trail_keys WHERE id = $1`, fullKey().ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(row, file.Keys[0]) {
		t.Errorf("jsonb = %v\nkeys.json has %v", row, file.Keys[0])
	}

	// Keys reads every field back.
	k, err := auth.NewKeys(t.Context(), s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get(t.Context(), fullKey().ID); err != nil || !sameKey(got, fullKey()) {
		t.Errorf("Keys.Get = %+v, %v; want %+v", got, err, fullKey())
	}
}

func TestUpdate(t *testing.T) {
	db := newDatabase(t)
	s := pgkeys.New(db.pool(t), nil)
	key := fullKey()

	var seen []*auth.Key
	record := func(next auth.Key) func(*auth.Key) (auth.Key, error) {
		return func(cur *auth.Key) (auth.Key, error) {
			seen = append(seen, cur)
			return next, nil
		}
	}
	if _, err := s.Update(t.Context(), key.ID, record(key)); err != nil {
		t.Fatal(err)
	}
	renamed := key
	renamed.Name = "renamed"
	got, err := s.Update(t.Context(), key.ID, record(renamed))
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(got, renamed) {
		t.Errorf("Update returned %+v, want %+v", got, renamed)
	}
	if len(seen) != 2 || seen[0] != nil || seen[1] == nil || !sameKey(*seen[1], key) {
		t.Errorf("change saw %v, want nil and then the stored key", seen)
	}

	t.Run("change error writes nothing", func(t *testing.T) {
		boom := trail.Errorf(trail.ECONFLICT, "no")
		_, err := s.Update(t.Context(), key.ID, func(*auth.Key) (auth.Key, error) { return auth.Key{}, boom })
		if err != boom {
			t.Errorf("Update error = %v, want change's error as it is", err)
		}
		keys, _ := s.Load(t.Context())
		if len(keys) != 1 || keys[0].Name != "renamed" {
			t.Errorf("stored %+v after a failed change", keys)
		}
	})
	t.Run("change must keep the id", func(t *testing.T) {
		other := key
		other.ID = "ffffffffffffffff"
		if _, err := s.Update(t.Context(), key.ID, record(other)); err == nil {
			t.Error("Update stored a key under another id")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Update(ctx, key.ID, record(key)); !errors.Is(err, context.Canceled) {
			t.Errorf("Update with a cancelled context = %v", err)
		}
	})
}

// Concurrent Updates of one key are serialised: each sees the result of
// the one before, so no change is lost.
func TestUpdateSerialisesOneKey(t *testing.T) {
	db := newDatabase(t)
	stores := []*pgkeys.Store{pgkeys.New(db.pool(t), nil), pgkeys.New(db.pool(t), nil)}
	base := fullKey()
	base.Name = ""
	var wg sync.WaitGroup
	const each = 10
	for i, s := range stores {
		for range each {
			wg.Go(func() {
				_, err := s.Update(t.Context(), base.ID, func(cur *auth.Key) (auth.Key, error) {
					k := base
					if cur != nil {
						k = *cur
					}
					k.Name += string(rune('a' + i))
					return k, nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			})
		}
	}
	wg.Wait()
	keys, err := stores[0].Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || len(keys[0].Name) != 2*each {
		t.Fatalf("after %d concurrent appends to the name: %+v", 2*each, keys)
	}
}

func TestTouch(t *testing.T) {
	db := newDatabase(t)
	s := pgkeys.New(db.pool(t), nil)
	key := fullKey()
	put(t, s, key)
	lastUsed := func() time.Time {
		t.Helper()
		keys, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return *keys[0].LastUsedAt
	}
	later := key.LastUsedAt.Add(time.Hour)
	tests := []struct {
		name   string
		usedAt time.Time
		want   time.Time
	}{
		{"earlier is ignored", key.LastUsedAt.Add(-time.Hour), *key.LastUsedAt},
		{"later is written", later, later},
		{"equal is ignored", later, later},
		{"other zones are converted", later.Add(time.Minute).In(time.FixedZone("X", 3600)), later.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Touch(t.Context(), key.ID, tt.usedAt); err != nil {
				t.Fatal(err)
			}
			if got := lastUsed(); !got.Equal(tt.want) {
				t.Errorf("LastUsedAt = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("first use", func(t *testing.T) {
		k := fullKey()
		k.ID, k.LastUsedAt, k.Hash, k.PrevHash, k.PrevValidUntil = "0000000000000002", nil, auth.HashToken("2"), "", nil
		put(t, s, k)
		now := *at("2025-09-09T09:09:09.123456Z")
		if err := s.Touch(t.Context(), k.ID, now); err != nil {
			t.Fatal(err)
		}
		keys, _ := s.Load(t.Context())
		i := slices.IndexFunc(keys, func(x auth.Key) bool { return x.ID == k.ID })
		k.LastUsedAt = &now
		if !sameKey(keys[i], k) {
			t.Errorf("after the first Touch: %+v, want %+v", keys[i], k)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if err := s.Touch(t.Context(), "nonesuch", later); err != nil {
			t.Errorf("Touch of an unknown id: %v", err)
		}
	})
}

// Changes notify the schema's channel with the key's id in the same
// transaction; Touch notifies nobody.
func TestNotifications(t *testing.T) {
	db := newDatabase(t)
	s := pgkeys.New(db.pool(t), nil)
	listener := db.conn(t)
	var channel string
	if err := listener.QueryRow(t.Context(), `SELECT 'trail_keys.' || md5(current_schema())`).Scan(&channel); err != nil {
		t.Fatal(err)
	}
	if _, err := listener.Exec(t.Context(), "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	next := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		if n.Channel != channel {
			t.Errorf("notification on %q, want %q", n.Channel, channel)
		}
		return n.Payload
	}

	first := fullKey()
	if created, err := s.CreateFirst(t.Context(), first); err != nil || !created {
		t.Fatalf("CreateFirst on an empty table = %v, %v", created, err)
	}
	if got := next(); got != first.ID {
		t.Errorf("CreateFirst notified %q, want %q", got, first.ID)
	}
	second := fullKey()
	second.ID, second.Hash, second.PrevHash = "0000000000000002", auth.HashToken("2"), ""
	if created, err := s.CreateFirst(t.Context(), second); err != nil || created {
		t.Fatalf("CreateFirst on a table with a key = %v, %v", created, err)
	}

	if err := s.Touch(t.Context(), first.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	put(t, s, second)
	if got := next(); got != second.ID { // not first.ID: Touch sent nothing
		t.Errorf("notification %q, want %q from the Update after a Touch", got, second.ID)
	}

	if err := s.Save(t.Context(), []auth.Key{second}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "*" {
		t.Errorf("Save notified %q, want *", got)
	}
	keys, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !sameKey(keys[0], second) {
		t.Errorf("after Save of one key, Load = %+v", keys)
	}

	// This schema does not hear another.
	other := pgkeys.New(newDatabase(t).pool(t), nil)
	put(t, other, second)
	put(t, s, first)
	if got := next(); got != first.ID {
		t.Errorf("notification %q, want %q (not %q from another schema)", got, first.ID, second.ID)
	}
}

func TestLoadCorruptRow(t *testing.T) {
	db := newDatabase(t)
	s := pgkeys.New(db.pool(t), nil)
	if _, err := db.conn(t).Exec(t.Context(),
		`INSERT INTO trail_keys (id, key, updated_at) VALUES ('bad', '{"created_at": 7}', now())`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context()); err == nil {
		t.Error("Load of a row that is not a key succeeded")
	}
}
