package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
)

// FuzzIngest drives POST /v1/events with arbitrary bodies and content
// types. Whatever the input, the answer is 201 or a 4xx with the error
// shape, never a 5xx; a rejected request stores nothing and an accepted
// one stores exactly one event per receipt.
func FuzzIngest(f *testing.F) {
	skey, vkey, err := checkpoint.GenerateKey("trail.fuzz", bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	dir := f.TempDir()
	store, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "store"), Signer: signer, Verifier: verifier, ServerName: "trail.fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	ctx := context.Background()
	keys, err := auth.NewKeys(ctx, auth.NewFileStore(filepath.Join(dir, "keys.json")), time.Now, nil)
	if err != nil {
		f.Fatal(err)
	}
	_, token, err := keys.Create(ctx, "fuzz", auth.Writer, "fuzz", nil)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: store, Keys: keys, VerifierKey: vkey, AutoTenants: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	size := func() int64 {
		ts, err := store.Tenants(ctx)
		if err != nil {
			f.Fatal(err)
		}
		var n int64
		for _, t := range ts {
			if t.Name == "fuzz" {
				n = t.Size
			}
		}
		return n
	}

	for _, seed := range []string{
		`{"action":"user.login","actor":{"id":"u_1"}}`,
		`{"events":[{"action":"a","actor":{"id":"b"}},{"action":"c","actor":{"id":"d"},"outcome":"failure"}]}`,
		"{\"action\":\"a\",\"actor\":{\"id\":\"b\"}}\n{\"action\":\"c\",\"actor\":{\"id\":\"d\"}}\n",
		`{"action":"a","actor":{"id":"b"},"seq":3}`,
		`{"action":"a","actor":{"id":1}}`,
		`{"action":"a","actor":{"id":"b"},"source":{"ip":"999.1.1.1"}}`,
		`{"action":"a","actor":{"id":"b"},"metadata":{"n":1e400}}`,
		`{"action":"a","actor":{"id":"b"},"time":"yesterday"}`,
		`{"events":[]}`, `[]`, `{`, ``, `null`,
		`{"action":"a","actor":{"id":"b"},"tenant":"other"}`,
	} {
		f.Add([]byte(seed), uint8(0))
		f.Add([]byte(seed), uint8(1))
	}
	contentTypes := []string{"application/json", "application/x-ndjson", "text/plain", ""}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		before := size()
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		after := size()
		switch {
		case rec.Code == http.StatusCreated:
			var out struct {
				Receipts []trail.Receipt `json:"receipts"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("201 with an undecodable body %q: %v", rec.Body, err)
			}
			fresh := int64(0)
			seen := map[int64]bool{}
			for _, r := range out.Receipts {
				if !r.Duplicate && !seen[r.Seq] {
					seen[r.Seq] = true
					fresh++
				}
			}
			if after-before != fresh {
				t.Fatalf("201 with %d new receipts, but the log grew by %d", fresh, after-before)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%d with a body that is not an error object: %q", rec.Code, rec.Body)
			}
			if after != before {
				t.Fatalf("%d (%s) but the log grew from %d to %d", rec.Code, e.Error.Message, before, after)
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}
