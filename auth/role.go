package auth

import (
	"slices"
	"strings"

	trail "github.com/trail-audit/trail"
)

// Role is what a key may do. The five roles are fixed; see Role.Allows for
// the permissions of each.
type Role string

// The roles, from most to least powerful.
const (
	Operator Role = "operator" // all tenants, tenant management and server settings
	Admin    Role = "admin"    // one tenant: everything, including its keys and settings
	Auditor  Role = "auditor"  // read, export and verify
	Viewer   Role = "viewer"   // read only (query, get, stats, stream, checkpoint, proofs)
	Writer   Role = "writer"   // ingest only: cannot read
)

// roles lists every role, most powerful first.
var roles = []Role{Operator, Admin, Auditor, Viewer, Writer}

// Roles returns every role, most powerful first.
func Roles() []Role { return slices.Clone(roles) }

// ParseRole returns the role named s. An unknown name is an EINVALID
// *trail.Error whose Field is "role".
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", trail.FieldError("role", "unknown role %q (want operator, admin, auditor, viewer or writer)", s)
	}
	return r, nil
}

// Valid reports whether r is one of the five roles.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

// Permission is an action an endpoint requires.
type Permission string

// The permissions. Each HTTP endpoint requires exactly one.
const (
	PermIngest   Permission = "events.ingest"   // POST /v1/events
	PermRead     Permission = "events.read"     // query, get, stats, stream, checkpoint, proofs
	PermExport   Permission = "events.export"   // GET /v1/export
	PermVerify   Permission = "log.verify"      // verification of a tenant's log
	PermKeys     Permission = "keys.manage"     // /v1/keys, /v1/viewer-tokens
	PermTenants  Permission = "tenants.manage"  // /v1/tenants
	PermSettings Permission = "settings.manage" // /v1/settings, schemas, rules, sinks
)

// Permissions returns every permission in declaration order.
func Permissions() []Permission {
	return []Permission{PermIngest, PermRead, PermExport, PermVerify, PermKeys, PermTenants, PermSettings}
}

// Allows reports whether role r has permission p. This is the one role
// matrix of trail:
//
//	permission       operator  admin  auditor  viewer  writer
//	events.ingest       ✓        ✓                        ✓
//	events.read         ✓        ✓       ✓        ✓
//	events.export       ✓        ✓       ✓
//	log.verify          ✓        ✓       ✓
//	keys.manage         ✓        ✓
//	tenants.manage      ✓
//	settings.manage     ✓        ✓
//
// A writer cannot read, not even the receipts of other writers. Which tenants
// a role acts on is a separate question, answered by Principal.Authorize: an
// admin manages the keys and settings of its own tenant only. An unknown role
// or permission allows nothing.
func (r Role) Allows(p Permission) bool {
	switch r {
	case Operator:
		switch p {
		case PermIngest, PermRead, PermExport, PermVerify, PermKeys, PermTenants, PermSettings:
			return true
		}
	case Admin:
		switch p {
		case PermIngest, PermRead, PermExport, PermVerify, PermKeys, PermSettings:
			return true
		}
	case Auditor:
		switch p {
		case PermRead, PermExport, PermVerify:
			return true
		}
	case Viewer:
		return p == PermRead
	case Writer:
		return p == PermIngest
	}
	return false
}

// AllTenants is the tenant scope of a key that acts on every tenant.
const AllTenants = "*"

// Principal is an authenticated caller: the key it presented, that key's
// role and the tenant it is scoped to (a tenant name or AllTenants).
type Principal struct {
	KeyID  string
	Name   string
	Role   Role
	Tenant string
	// Filter, when not empty, is a filter in the query language (package
	// query) that bounds everything the principal reads: the API ANDs it
	// with every query, live tail and stats request, and answers a request
	// for one event outside it exactly as for an id that does not exist.
	// Viewer tokens (package viewtoken) carry it; API keys never do.
	Filter string
	// EventsOnly limits the principal to the routes that read events and
	// verify the log (query, get, stream, stats, checkpoint, proofs,
	// verifier key); every other route answers 403 whatever the role
	// allows. Viewer tokens set it, with or without a Filter.
	EventsOnly bool
}

// OIDCPrefix starts the KeyID of a principal signed in through OIDC:
// "oidc:<subject>". Such a principal is a person, not a key.
const OIDCPrefix = "oidc:"

// ActorType is the trail.Actor type that self-audit events give p: "user"
// for a person signed in through OIDC, "api_key" for API keys and viewer
// tokens.
func (p Principal) ActorType() string {
	if strings.HasPrefix(p.KeyID, OIDCPrefix) {
		return trail.ActorUser
	}
	return trail.ActorAPIKey
}

// AllTenants reports whether p may act on every tenant: operators always
// may, other roles when their key is scoped to AllTenants.
func (p Principal) AllTenants() bool {
	return p.Role == Operator || p.Tenant == AllTenants
}

// Authorize returns nil when p may do perm on tenant, and an EFORBIDDEN
// *trail.Error otherwise. The role is checked first ("role viewer cannot
// events.export"), then the scope ("key is scoped to tenant acme"). An
// operator acts on every tenant whatever its Tenant field says; a key scoped
// to AllTenants acts on every tenant within its role.
//
// tenant "" or AllTenants names an action that spans tenants (listing every
// tenant's keys, say); only a principal for which AllTenants is true may do
// it. A caller acting on a scoped key's own tenant passes that tenant.
func (p Principal) Authorize(perm Permission, tenant string) error {
	if !p.Role.Allows(perm) {
		return trail.Errorf(trail.EFORBIDDEN, "role %s cannot %s", p.Role, perm)
	}
	if p.AllTenants() {
		return nil
	}
	if tenant == "" || tenant == AllTenants || tenant != p.Tenant {
		return trail.Errorf(trail.EFORBIDDEN, "key is scoped to tenant %s", p.Tenant)
	}
	return nil
}
