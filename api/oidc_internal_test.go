package api

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// FuzzOIDCPrincipal: whatever claims a verified ID token carries, the
// mapping either refuses with a message or yields a valid role and a
// tenant that is a valid name or "*" ("*" always for operators).
func FuzzOIDCPrincipal(f *testing.F) {
	for _, s := range []string{
		`{"trail_role":"viewer","trail_tenant":"acme","email":"ada@example.com"}`,
		`{"trail_role":"operator"}`,
		`{"trail_role":"admin","trail_tenant":"*"}`,
		`{"groups":["trail-admins","x"],"trail_tenant":"acme"}`,
		`{"groups":"trail-admins","trail_tenant":"acme"}`,
		`{"trail_role":7,"trail_tenant":["acme"]}`,
		`{"trail_role":"viewer","trail_tenant":"Bad Name"}`,
		`{}`,
	} {
		f.Add("sub-1", s)
	}
	c, err := newOIDCClient(OIDCConfig{Issuer: "https://idp", ClientID: "c", RedirectURL: "https://t/auth/oidc/callback",
		GroupRoles: map[string]auth.Role{"trail-admins": auth.Admin, "trail-viewers": auth.Viewer}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sub, raw string) {
		var claims map[string]any
		if json.Unmarshal([]byte(raw), &claims) != nil {
			return
		}
		p, ref := c.principal(sub, claims)
		if ref != nil {
			if ref.msg == "" || ref.status != 403 {
				t.Fatalf("refusal %+v: want 403 with a message", ref)
			}
			return
		}
		if !p.Role.Valid() {
			t.Fatalf("role %q", p.Role)
		}
		if p.Role == auth.Operator && p.Tenant != auth.AllTenants {
			t.Fatalf("operator with tenant %q", p.Tenant)
		}
		if p.Tenant != auth.AllTenants && trail.ValidateTenantName(p.Tenant) != nil {
			t.Fatalf("tenant %q", p.Tenant)
		}
		if len(p.Name) > 200 || p.KeyID == "" || !utf8.ValidString(p.Name) || !utf8.ValidString(p.KeyID) {
			t.Fatalf("principal %+v: want a bounded name and an id", p)
		}
	})
}
