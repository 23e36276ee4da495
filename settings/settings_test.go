package settings

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trail-audit/trail"
)

func TestRegistryFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "settings.json")
	r, err := New(ctx, NewFileStore(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Get("acme"); got.RetentionDays != trail.DefaultRetentionDays || !got.Masking.Defaults {
		t.Fatalf("unset tenant: %+v, want the defaults", got)
	}
	want := trail.Settings{RetentionDays: 30, LegalHold: true, Masking: trail.MaskingSettings{Defaults: true,
		Rules: []trail.MaskRule{{Path: "metadata.card", Action: trail.MaskPartial}}}}
	g0 := r.Generation()
	if _, err := r.Put(ctx, "acme", want); err != nil {
		t.Fatal(err)
	}
	if r.Generation() == g0 {
		t.Error("Put did not change the generation")
	}
	// A second registry on the same file sees it (as after a restart).
	r2, err := New(ctx, NewFileStore(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.Get("acme")
	if got.RetentionDays != 30 || !got.LegalHold || len(got.Masking.Rules) != 1 || got.Masking.Rules[0] != want.Masking.Rules[0] {
		t.Fatalf("after reload: %+v", got)
	}
	// Get returns a copy.
	got.Masking.Rules[0].Action = trail.MaskDrop
	if r2.Get("acme").Masking.Rules[0].Action != trail.MaskPartial {
		t.Fatal("Get shares its rules with the cache")
	}
}

func TestRegistryRejects(t *testing.T) {
	ctx := context.Background()
	refuse := func(tenant string, s trail.Settings) error {
		if len(s.Masking.Rules) > 0 && s.Masking.Rules[0].Detector == "nope" {
			return trail.FieldError("masking.rules[0].detector", "unknown detector")
		}
		return nil
	}
	r, err := New(ctx, NewFileStore(filepath.Join(t.TempDir(), "s.json")), refuse)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant string
		s      trail.Settings
		field  string
	}{
		{"acme", trail.Settings{RetentionDays: -3}, "retention_days"},
		{"acme", trail.Settings{Masking: trail.MaskingSettings{Rules: []trail.MaskRule{{Detector: "nope", Action: "redact"}}}}, "masking.rules[0].detector"},
		{"Bad Name", trail.DefaultSettings(), "tenant"},
	} {
		_, err := r.Put(ctx, tc.tenant, tc.s)
		var te *trail.Error
		if !errors.As(err, &te) || te.Code != trail.EINVALID || te.Field != tc.field {
			t.Errorf("Put(%s, %+v): %v, want EINVALID on %s", tc.tenant, tc.s, err, tc.field)
		}
	}
	if got := r.Get("acme"); got.RetentionDays != trail.DefaultRetentionDays {
		t.Fatalf("a rejected Put changed the settings: %+v", got)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, NewFileStore(filepath.Join(t.TempDir(), "s.json")), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := r.Put(ctx, "t"+string(rune('a'+i)), trail.Settings{RetentionDays: i + 1, Masking: trail.MaskingSettings{Rules: []trail.MaskRule{}}}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = r.Get("ta")
			if err := r.Reload(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 8 {
		if got := r.Get("t" + string(rune('a'+i))).RetentionDays; got != i+1 {
			t.Errorf("tenant %d: retention %d, want %d", i, got, i+1)
		}
	}
}
