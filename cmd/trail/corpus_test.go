package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
)

// TestNoCorpusSecretStored sends every event of the masking corpus
// (mask/testdata/secrets.jsonl: secrets in metadata, nested objects,
// arrays, free text, changes, resource names, user agents, paths) through
// the HTTP API of a real server, then looks for each secret in the export,
// in what a file sink forwarded, in every stored record read back from the
// store, and in every file of the data directory: none may appear anywhere.
func TestNoCorpusSecretStored(t *testing.T) {
	type entry struct {
		Name   string          `json:"name"`
		Secret string          `json:"secret"`
		Value  string          `json:"value"` // look-alikes: must survive
		Event  json.RawMessage `json:"event"`
	}
	load := func(name string) []entry {
		f, err := os.Open("../../mask/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []entry
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	corpus, lookalikes := load("secrets.jsonl"), load("lookalikes.jsonl")
	if len(corpus) < 200 {
		t.Fatalf("corpus has %d secrets, want at least 200", len(corpus))
	}

	dir := t.TempDir()
	const opKey = "operator-key-for-the-corpus-0123456789"
	s, stop := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "corpus.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
	post := func(method, path string, body []byte) []byte {
		req, _ := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	// A file sink forwards the tenants' logs: what it writes must be clean
	// too. The corpus events name their tenants; forward the first one's.
	var first struct{ Tenant string }
	json.Unmarshal(corpus[0].Event, &first)
	if first.Tenant == "" {
		first.Tenant = trail.DefaultTenant
	}
	post(http.MethodPost, "/v1/sinks?tenant="+first.Tenant, []byte(`{"name":"forward","type":"file","path":"forwarded.ndjson"}`))
	tenants := map[string]bool{}
	for _, e := range append(append([]entry(nil), corpus...), lookalikes...) {
		post(http.MethodPost, "/v1/events", e.Event)
		var probe struct{ Tenant string }
		json.Unmarshal(e.Event, &probe)
		if probe.Tenant == "" {
			probe.Tenant = trail.DefaultTenant
		}
		tenants[probe.Tenant] = true
	}
	// Wait until the sink has forwarded everything.
	forwarded := filepath.Join(dir, "sink-files", "forwarded.ndjson")
	for deadline := time.Now().Add(20 * time.Second); ; {
		data, _ := os.ReadFile(forwarded)
		if bytes.Count(data, []byte("\n")) >= len(corpus) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var exported []byte
	for tn := range tenants {
		exported = append(exported, post(http.MethodGet, "/v1/export?format=ndjson&tenant="+tn, nil)...)
	}
	stop()

	found := func(where string, data []byte) {
		t.Helper()
		for _, e := range corpus {
			if bytes.Contains(data, []byte(e.Secret)) {
				t.Errorf("secret %s (%q) found in %s", e.Name, e.Secret, where)
			}
		}
	}
	found("the export", exported)
	if data, err := os.ReadFile(forwarded); err != nil || bytes.Count(data, []byte("\n")) < len(corpus) {
		t.Fatalf("the file sink forwarded %d lines (%v), want at least the %d corpus events", bytes.Count(data, []byte("\n")), err, len(corpus))
	} else {
		found("the forwarded payload", data)
	}
	// Every record, read back decompressed from the store.
	signer, verifier, err := checkpoint.LoadKeyFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "store"), Signer: signer, Verifier: verifier, ServerName: "corpus.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stored bytes.Buffer
	for tn := range tenants {
		recs, err := st.Read(context.Background(), tn, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			stored.Write(r.Data)
		}
	}
	if stored.Len() == 0 {
		t.Fatal("nothing stored")
	}
	found("the stored events", stored.Bytes())
	// The search would see them: the look-alikes, stored as sent, are there.
	kept := 0
	for _, e := range lookalikes {
		if bytes.Contains(stored.Bytes(), []byte(e.Value)) {
			kept++
		}
	}
	if kept*100 < len(lookalikes)*95 {
		t.Errorf("only %d of %d look-alikes are stored as sent", kept, len(lookalikes))
	}
	// Every file of the data directory, as bytes on disk.
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found(strings.TrimPrefix(path, dir), data)
		return nil
	})
}
