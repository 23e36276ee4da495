package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/proxy"
)

// printer is a Recorder that prints what it is sent; a program passes a
// *client.Client from the trail Go SDK instead.
type printer struct{}

func (printer) Send(_ context.Context, e trail.Event) error {
	fmt.Println(e.Action, e.Outcome, e.Actor.ID, e.Resource.ID, e.Request.Status, e.Metadata["request_body"])
	return nil
}

func ExampleAuditor_Wrap() {
	cfg, err := proxy.ParseConfig([]byte(`{
	  "routes": [{"method": "PUT", "path": "/v1/projects/{id}", "capture": "request"}],
	  "api_key_headers": ["X-Api-Key"]
	}`))
	if err != nil {
		panic(err)
	}
	cfg.MaskKey = []byte("a secret of at least 16 bytes, stable across restarts")
	audit, err := proxy.New(cfg, proxy.Options{Recorder: printer{}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	h := audit.Wrap(mux)

	r := httptest.NewRequest("PUT", "/v1/projects/p_7", strings.NewReader(`{"name":"renamed","password":"hunter2"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Api-Key", "sk_live_0123456789")
	h.ServeHTTP(httptest.NewRecorder(), r)
	fmt.Println(proxy.APIKeyID("sk_live_0123456789"))
	// Output:
	// project.update success apikey_79d11b86a8bc0dc92c5457b0e35b08cd p_7 204 map[name:renamed password:[REDACTED]]
	// apikey_79d11b86a8bc0dc92c5457b0e35b08cd
}
