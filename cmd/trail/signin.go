package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// SignInConfig is the dashboard sign-in part of "trail serve": session
// timeouts and the optional OIDC issuer. See docs/sign-in.md.
type SignInConfig struct {
	SessionIdle time.Duration // 0: 30m
	SessionMax  time.Duration // 0: 12h

	OIDCIssuer           string
	OIDCClientID         string
	OIDCClientSecret     string // or from TRAIL_OIDC_CLIENT_SECRET
	OIDCClientSecretFile string
	OIDCRedirectURL      string
	OIDCName             string
	OIDCRoleClaim        string
	OIDCTenantClaim      string
	OIDCGroupsClaim      string
	OIDCGroupRoles       string // "group=role,group=role"
	OIDCScopes           string // space- or comma-separated
}

// addFlags declares the sign-in flags on fs.
func (c *SignInConfig) addFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SessionIdle, "session-idle", session.DefaultIdle, "dashboard session idle timeout")
	fs.DurationVar(&c.SessionMax, "session-max", session.DefaultMax, "dashboard session absolute timeout")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", "", "OIDC issuer URL for dashboard sign-in (empty: API-key sign-in only)")
	fs.StringVar(&c.OIDCClientID, "oidc-client-id", "", "OIDC client id")
	fs.StringVar(&c.OIDCClientSecret, "oidc-client-secret", "", "OIDC client secret (prefer TRAIL_OIDC_CLIENT_SECRET or --oidc-client-secret-file: flags show in ps)")
	fs.StringVar(&c.OIDCClientSecretFile, "oidc-client-secret-file", "", "file holding the OIDC client secret")
	fs.StringVar(&c.OIDCRedirectURL, "oidc-redirect-url", "", "this server's callback as registered at the issuer, https://<host>/auth/oidc/callback")
	fs.StringVar(&c.OIDCName, "oidc-name", "OIDC", `name on the sign-in button, "Sign in with <name>"`)
	fs.StringVar(&c.OIDCRoleClaim, "oidc-role-claim", "trail_role", "ID token claim holding the trail role")
	fs.StringVar(&c.OIDCTenantClaim, "oidc-tenant-claim", "trail_tenant", "ID token claim holding the tenant (* for all tenants)")
	fs.StringVar(&c.OIDCGroupsClaim, "oidc-groups-claim", "groups", "ID token claim holding a list of groups, for --oidc-group-roles")
	fs.StringVar(&c.OIDCGroupRoles, "oidc-group-roles", "", "roles for groups when the role claim is absent: group=role,group=role (the most powerful match wins)")
	fs.StringVar(&c.OIDCScopes, "oidc-scopes", "openid profile email", "scopes to ask for, separated by spaces or commas")
}

// sessions returns the session manager the timeouts configure, over
// store; the error names the flag.
func (c *SignInConfig) sessions(store session.Store) (*session.Manager, error) {
	m, err := session.NewManager(session.Config{Store: store, Idle: c.SessionIdle, Max: c.SessionMax})
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	return m, nil
}

// oidc returns the OIDC configuration, nil when --oidc-issuer is empty.
// Errors name the flag.
func (c *SignInConfig) oidc() (*api.OIDCConfig, error) {
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCRedirectURL != "" {
			return nil, errors.New("--oidc-issuer: required with --oidc-client-id and --oidc-redirect-url")
		}
		return nil, nil
	}
	secret := c.OIDCClientSecret
	if c.OIDCClientSecretFile != "" {
		if secret != "" {
			return nil, errors.New("--oidc-client-secret-file and --oidc-client-secret (or TRAIL_OIDC_CLIENT_SECRET): give one of them")
		}
		b, err := os.ReadFile(c.OIDCClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	oc := &api.OIDCConfig{Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: secret, RedirectURL: c.OIDCRedirectURL, Name: c.OIDCName,
		RoleClaim: c.OIDCRoleClaim, TenantClaim: c.OIDCTenantClaim, GroupsClaim: c.OIDCGroupsClaim,
		Scopes: strings.FieldsFunc(c.OIDCScopes, func(r rune) bool { return r == ' ' || r == ',' })}
	if c.OIDCGroupRoles != "" {
		oc.GroupRoles = map[string]auth.Role{}
		for _, pair := range strings.Split(c.OIDCGroupRoles, ",") {
			g, r, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || g == "" {
				return nil, fmt.Errorf("--oidc-group-roles: %q is not group=role", pair)
			}
			oc.GroupRoles[g] = auth.Role(r)
		}
	}
	if err := oc.Validate(); err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	return oc, nil
}
