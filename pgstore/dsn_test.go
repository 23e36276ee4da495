package pgstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/trail-audit/trail/pgstore"
)

// TestWithSchema checks the DSN the PostgreSQL store is given.
func TestWithSchema(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"URL", "postgres://u@h:5432/db", "postgres://u@h:5432/db?search_path=s1"},
		{"URL with parameters", "postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?search_path=s1&sslmode=disable"},
		{"URL with a search_path", "postgres://u@h/db?search_path=public", "postgres://u@h/db?search_path=s1"},
		{"key=value", "host=h dbname=db", "host=h dbname=db search_path=s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pgstore.WithSchema(tt.dsn, "s1")
			if err != nil || got != tt.want {
				t.Errorf("WithSchema(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatal(err)
			}
			if sp := cfg.RuntimeParams["search_path"]; sp != "s1" {
				t.Errorf("pgx reads search_path %q, want s1", sp)
			}
		})
	}
}
