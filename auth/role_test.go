package auth

import (
	"errors"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
)

// wantAllows is the role matrix of DESIGN.md §7, spelled out pair by pair.
var wantAllows = map[Role]map[Permission]bool{
	Operator: {PermIngest: true, PermRead: true, PermExport: true, PermVerify: true, PermKeys: true, PermTenants: true, PermSettings: true},
	Admin:    {PermIngest: true, PermRead: true, PermExport: true, PermVerify: true, PermKeys: true, PermTenants: false, PermSettings: true},
	Auditor:  {PermIngest: false, PermRead: true, PermExport: true, PermVerify: true, PermKeys: false, PermTenants: false, PermSettings: false},
	Viewer:   {PermIngest: false, PermRead: true, PermExport: false, PermVerify: false, PermKeys: false, PermTenants: false, PermSettings: false},
	Writer:   {PermIngest: true, PermRead: false, PermExport: false, PermVerify: false, PermKeys: false, PermTenants: false, PermSettings: false},
}

func TestRoleAllows(t *testing.T) {
	if len(wantAllows) != len(Roles()) {
		t.Fatalf("expected table has %d roles, want %d", len(wantAllows), len(Roles()))
	}
	for _, r := range Roles() {
		row, ok := wantAllows[r]
		if !ok {
			t.Fatalf("role %s missing from the expected table", r)
		}
		if len(row) != len(Permissions()) {
			t.Fatalf("role %s: expected row has %d permissions, want %d", r, len(row), len(Permissions()))
		}
		for _, p := range Permissions() {
			want, ok := row[p]
			if !ok {
				t.Fatalf("role %s: permission %s missing from the expected table", r, p)
			}
			t.Run(string(r)+"/"+string(p), func(t *testing.T) {
				if got := r.Allows(p); got != want {
					t.Errorf("%s.Allows(%s) = %v, want %v", r, p, got, want)
				}
			})
		}
	}
}

func TestRoleAllowsUnknown(t *testing.T) {
	for _, p := range Permissions() {
		if Role("root").Allows(p) || Role("").Allows(p) {
			t.Errorf("an unknown role allows %s", p)
		}
	}
	for _, r := range Roles() {
		if r.Allows("events.delete") {
			t.Errorf("%s allows an unknown permission", r)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, nil", r, got, err, r)
		}
	}
	for _, s := range []string{"", "Admin", "root", "admin "} {
		_, err := ParseRole(s)
		var e *trail.Error
		if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != "role" {
			t.Errorf("ParseRole(%q) error = %v, want EINVALID on field role", s, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name    string
		p       Principal
		perm    Permission
		tenant  string
		wantErr string // substring of the message; "" = allowed
	}{
		{"scoped viewer reads own tenant", Principal{Role: Viewer, Tenant: "acme"}, PermRead, "acme", ""},
		{"scoped viewer reads other tenant", Principal{Role: Viewer, Tenant: "acme"}, PermRead, "globex", "key is scoped to tenant acme"},
		{"scoped viewer spans tenants", Principal{Role: Viewer, Tenant: "acme"}, PermRead, "", "key is scoped to tenant acme"},
		{"scoped viewer names all tenants", Principal{Role: Viewer, Tenant: "acme"}, PermRead, AllTenants, "key is scoped to tenant acme"},
		{"viewer cannot export", Principal{Role: Viewer, Tenant: "acme"}, PermExport, "acme", "role viewer cannot events.export"},
		{"role is checked before scope", Principal{Role: Viewer, Tenant: "acme"}, PermExport, "globex", "role viewer cannot events.export"},
		{"writer cannot read", Principal{Role: Writer, Tenant: AllTenants}, PermRead, "acme", "role writer cannot events.read"},
		{"all-tenant writer ingests anywhere", Principal{Role: Writer, Tenant: AllTenants}, PermIngest, "globex", ""},
		{"all-tenant auditor spans tenants", Principal{Role: Auditor, Tenant: AllTenants}, PermExport, "", ""},
		{"admin manages own keys", Principal{Role: Admin, Tenant: "acme"}, PermKeys, "acme", ""},
		{"admin cannot manage other keys", Principal{Role: Admin, Tenant: "acme"}, PermKeys, "globex", "key is scoped to tenant acme"},
		{"admin cannot manage tenants", Principal{Role: Admin, Tenant: "acme"}, PermTenants, "acme", "role admin cannot tenants.manage"},
		{"operator on any tenant", Principal{Role: Operator, Tenant: AllTenants}, PermSettings, "globex", ""},
		{"operator whatever its scope says", Principal{Role: Operator, Tenant: "acme"}, PermRead, "globex", ""},
		{"operator manages tenants", Principal{Role: Operator, Tenant: AllTenants}, PermTenants, "", ""},
		{"unknown role", Principal{Role: "root", Tenant: AllTenants}, PermRead, "acme", "role root cannot events.read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Authorize(tt.perm, tt.tenant)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Authorize = %v, want nil", err)
				}
				return
			}
			var e *trail.Error
			if !errors.As(err, &e) || e.Code != trail.EFORBIDDEN {
				t.Fatalf("Authorize = %v, want EFORBIDDEN", err)
			}
			if !strings.Contains(e.Message, tt.wantErr) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.wantErr)
			}
		})
	}
}

func TestActorType(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		want string
	}{
		{Principal{KeyID: OIDCPrefix + "248289761001", Role: Auditor}, "user"},
		{Principal{KeyID: "k_0123", Role: Admin}, "api_key"},
		{Principal{KeyID: "viewer-token-abc", Role: Viewer}, "api_key"},
	} {
		if got := tc.p.ActorType(); got != tc.want {
			t.Errorf("%s: ActorType = %q, want %q", tc.p.KeyID, got, tc.want)
		}
	}
}
