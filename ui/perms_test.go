package ui_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/trail-audit/trail/auth"
)

// TestRolePermissionsMatchServer: the dashboard hides what a role cannot
// do from the table PERMS in assets/role.js; it must be auth.Role.Allows,
// role by role, or buttons appear that the server refuses (or vanish for
// actions it allows).
func TestRolePermissionsMatchServer(t *testing.T) {
	src, err := os.ReadFile("assets/role.js")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)export const PERMS = \{(.*?)\n\};`).FindSubmatch(src)
	if block == nil {
		t.Fatal("assets/role.js: no PERMS table")
	}
	lines := regexp.MustCompile(`(?m)^\s*([a-z]+): (\[[^\]]*\]),?$`).FindAllSubmatch(block[1], -1)
	got := map[string][]string{}
	for _, l := range lines {
		var perms []string
		if err := json.Unmarshal(l[2], &perms); err != nil {
			t.Fatalf("PERMS.%s: %v", l[1], err)
		}
		got[string(l[1])] = perms
	}
	for _, role := range auth.Roles() {
		var want []string
		for _, p := range auth.Permissions() {
			if role.Allows(p) {
				want = append(want, string(p))
			}
		}
		if g := got[string(role)]; !slices.Equal(g, want) {
			t.Errorf("PERMS.%s = %q, want %q", role, g, want)
		}
	}
	if len(got) != len(auth.Roles()) {
		t.Errorf("PERMS has %d roles, the server %d", len(got), len(auth.Roles()))
	}
}
