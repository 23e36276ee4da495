package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/mask"
	"github.com/trail-audit/trail/settings"
)

// maskConfig converts a tenant's masking settings to the masker's
// configuration.
func maskConfig(st trail.MaskingSettings) mask.Config {
	on := st.Defaults
	c := mask.Config{Defaults: &on, Rules: make([]mask.Rule, len(st.Rules))}
	for i, r := range st.Rules {
		c.Rules[i] = mask.Rule{Path: r.Path, Detector: mask.Detector(r.Detector), Action: mask.Action(r.Action)}
	}
	return c
}

// tenantMaskKey is the tenant's HMAC key for masking: HMAC-SHA256 of the
// tenant name under the server's masking secret, so that every node with
// the same secret hashes a value the same way, and tenants never share
// hashes.
func tenantMaskKey(secret []byte, tenant string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("trail/mask/v1/"))
	h.Write([]byte(tenant))
	return h.Sum(nil)
}

// CheckMasking returns a settings.Check that refuses masking settings the
// masker cannot compile, naming the rule.
func CheckMasking(secret []byte) settings.Check {
	return func(tenant string, st trail.Settings) error {
		_, err := mask.New(maskConfig(st.Masking), tenantMaskKey(secret, tenant))
		return err
	}
}

// maskers compiles each tenant's masker on first use and again after any
// settings change. It is safe for concurrent use.
type maskers struct {
	settings *settings.Registry
	secret   []byte

	mu  sync.RWMutex
	gen uint64
	m   map[string]*mask.Masker
}

func newMaskers(reg *settings.Registry, secret []byte) *maskers {
	return &maskers{settings: reg, secret: secret, m: map[string]*mask.Masker{}}
}

// get returns tenant's masker.
func (ms *maskers) get(tenant string) (*mask.Masker, error) {
	gen := ms.settings.Generation()
	ms.mu.RLock()
	m, ok := ms.m[tenant]
	fresh := ms.gen == gen
	ms.mu.RUnlock()
	if ok && fresh {
		return m, nil
	}
	m, err := mask.New(maskConfig(ms.settings.Get(tenant).Masking), tenantMaskKey(ms.secret, tenant))
	if err != nil {
		return nil, err
	}
	ms.mu.Lock()
	if gen > ms.gen {
		clear(ms.m)
		ms.gen = gen
	}
	if gen == ms.gen { // not if settings changed again meanwhile
		ms.m[tenant] = m
	}
	ms.mu.Unlock()
	return m, nil
}

// searchForm returns x with every term value in the form masking stores
// it (an e-mail hashed by the hmac action is found by its address). A
// value that masking removes matches nothing.
func searchForm(m *mask.Masker, x *trail.Expr) *trail.Expr {
	if x == nil {
		return nil
	}
	if x.Op != trail.OpTerm {
		c := *x
		c.Args = make([]*trail.Expr, len(x.Args))
		for i, a := range x.Args {
			c.Args[i] = searchForm(m, a)
		}
		return &c
	}
	if x.Prefix {
		return x // hashed values cannot be matched by prefix
	}
	v, ok := m.SearchValue(x.Field, x.Value)
	if !ok {
		return trail.And(x, trail.Not(x)) // matches nothing
	}
	if v == x.Value {
		return x
	}
	c := *x
	c.Value = v
	return &c
}
