// Package pgtest gives tests a PostgreSQL schema of their own.
//
// Tests that need PostgreSQL call Schema. When TRAIL_TEST_POSTGRES is unset
// the test is skipped with a reason; when it is set and the server cannot
// be reached the test fails. Each call creates a fresh schema with a random
// name, returns a connection string whose search_path is that schema, and
// drops the schema when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trail-audit/trail/pgstore"
)

// EnvVar names the environment variable that holds the test server's
// connection string, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvVar = "TRAIL_TEST_POSTGRES"

// DSN returns the test server's connection string, skipping t when
// TRAIL_TEST_POSTGRES is unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		t.Skip(EnvVar + " is not set: skipping a test that needs PostgreSQL (.ci/run sets it)")
	}
	return dsn
}

// Schema creates a schema of its own for t and returns its name and a
// connection string that uses it (search_path). The schema and everything
// in it is dropped when t ends.
func Schema(t testing.TB) (name, dsn string) {
	t.Helper()
	base := DSN(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name = "trail_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", EnvVar, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	dsn, err = pgstore.WithSchema(base, name)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	return name, dsn
}
