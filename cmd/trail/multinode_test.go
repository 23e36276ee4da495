package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/merkle"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// TestMain lets a test start the trail binary: the test binary re-executed
// with TRAIL_TEST_RUN_MAIN=1 is "trail" with the given arguments.
func TestMain(m *testing.M) {
	if os.Getenv("TRAIL_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// node is a "trail serve" process.
type node struct {
	cmd  *exec.Cmd
	url  string
	errs bytes.Buffer
}

// startNode starts "trail serve --postgres" as a process of its own.
func startNode(t *testing.T, dsn, data, key string) *node {
	t.Helper()
	n := &node{cmd: exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0")}
	n.cmd.Env = append(os.Environ(), "TRAIL_TEST_RUN_MAIN=1", "TRAIL_POSTGRES="+dsn, "TRAIL_DATA="+data,
		"TRAIL_BOOTSTRAP_KEY="+key, "TRAIL_SERVER_NAME=multi.test")
	n.cmd.Stderr = &n.errs
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "trail is serving "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			n.cmd.Wait()
			t.Fatalf("trail serve exited: %s", n.errs.String())
		}
		n.url = u
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("trail serve did not start: %s", n.errs.String())
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop ends the process gracefully (SIGTERM) and checks its exit.
func (n *node) stop(t *testing.T) {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("trail serve %s: %v\n%s", n.url, err, n.errs.String())
		}
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		t.Errorf("trail serve %s did not stop", n.url)
	}
}

// call makes an authenticated request and decodes a JSON response.
func call(t *testing.T, method, url, key string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
}

// tail follows a tenant's live stream from seq 0 and records every seq.
type tail struct {
	mu   sync.Mutex
	seqs map[int64]bool
}

func startTail(t *testing.T, ctx context.Context, base, key, tenant string) *tail {
	tl := &tail{seqs: map[int64]bool{}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream?from_seq=0&tenant="+tenant, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream %s: %s", tenant, resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					tl.mu.Lock()
					tl.seqs[n] = true
					tl.mu.Unlock()
				}
			}
		}
	}()
	return tl
}

// missing returns how many of seqs [0, size) the tail has not seen.
func (tl *tail) missing(size int64) int64 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var n int64
	for s := range size {
		if !tl.seqs[s] {
			n++
		}
	}
	return n
}

// TestMultiNode runs two "trail serve" processes on one PostgreSQL schema,
// ingests into shared tenants through both at once, and checks gapless
// seqs, one tree per tenant, checkpoints that agree across nodes, live
// tails on both nodes that see every event, and a clean deep verify.
func TestMultiNode(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	const key = "multi-node-operator-key-0123456789abcdef"
	dirA, dirB := t.TempDir(), t.TempDir()
	// Every node signs with the same key: the first creates it, the
	// second gets a copy.
	a := startNode(t, dsn, dirA, key)
	sk, err := os.ReadFile(filepath.Join(dirA, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "signing.key"), sk, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, dsn, dirB, key)
	nodes := []*node{a, b}
	tenants := []string{"shared1", "shared2"}

	// Keys are shared: a key created through A works on B at once, and
	// its revocation through A is refused by B at once.
	var created struct{ ID, Key string }
	call(t, http.MethodPost, a.url+"/v1/keys", key, []byte(`{"name":"ci","role":"writer","tenant":"shared1"}`), &created)
	status := func(n *node, k string) int {
		req, _ := http.NewRequest(http.MethodPost, n.url+"/v1/events", strings.NewReader(`{"action":"key.test","actor":{"id":"ci"}}`))
		req.Header.Set("Authorization", "Bearer "+k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	eventually("a key created on node A authenticates on node B", func() bool { return status(b, created.Key)/100 == 2 })
	call(t, http.MethodDelete, a.url+"/v1/keys/"+created.ID, key, nil, nil)
	eventually("a key revoked on node A is refused by node B", func() bool { return status(b, created.Key) == http.StatusUnauthorized })

	// Create the tenants, then follow them from seq 0 on both nodes.
	for _, tn := range tenants {
		call(t, http.MethodPost, a.url+"/v1/events", key, []byte(`{"tenant":"`+tn+`","action":"tenant.seed","actor":{"id":"t"}}`), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tails := map[string][]*tail{}
	for _, tn := range tenants {
		for _, n := range nodes {
			tails[tn] = append(tails[tn], startTail(t, ctx, n.url, key, tn))
		}
	}

	// Concurrent ingest through both nodes into both tenants.
	const writers, batches, per = 3, 20, 25
	var wg sync.WaitGroup
	for i, n := range nodes {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for bt := range batches {
					var buf bytes.Buffer
					buf.WriteString(`{"events":[`)
					for k := range per {
						if k > 0 {
							buf.WriteByte(',')
						}
						fmt.Fprintf(&buf, `{"tenant":%q,"action":"doc.update","actor":{"id":"u%d_%d"},"resource":{"type":"doc","id":"d%d"}}`,
							tenants[(bt+k)%2], i, w, bt*per+k)
					}
					buf.WriteString(`]}`)
					call(t, http.MethodPost, n.url+"/v1/events", key, buf.Bytes(), nil)
				}
			}()
		}
	}
	wg.Wait()

	for _, tn := range tenants {
		var cps [2]checkpoint.Checkpoint
		for i, n := range nodes {
			cps[i] = getCheckpoint(t, n.url, key, tn)
		}
		// Reads are audited into the log too, so node B's checkpoint may be
		// later than A's; A's must be a prefix of B's tree.
		if cps[0].Size < 1+writers*batches*per || cps[1].Size < cps[0].Size {
			t.Fatalf("%s: checkpoints of size %d and %d, want at least %d", tn, cps[0].Size, cps[1].Size, 1+writers*batches*per)
		}
		var proof struct {
			Hashes []string `json:"hashes"`
		}
		call(t, http.MethodGet, fmt.Sprintf("%s/v1/log/proof/consistency?tenant=%s&from=%d&to=%d", b.url, tn, cps[0].Size, cps[1].Size), key, nil, &proof)
		if err := verifyConsistency(cps[0], cps[1], proof.Hashes); err != nil {
			t.Fatalf("%s: node A's checkpoint is not consistent with node B's: %v", tn, err)
		}
		// Gapless: the export from node B holds every seq once, in order.
		req, _ := http.NewRequest(http.MethodGet, b.url+"/v1/export?format=ndjson&tenant="+tn, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var next int64
		for sc.Scan() {
			var e struct {
				Seq int64 `json:"seq"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Seq != next {
				t.Fatalf("%s: export has seq %d where %d was expected", tn, e.Seq, next)
			}
			next++
		}
		resp.Body.Close()
		if next < cps[1].Size {
			t.Fatalf("%s: export has %d events, checkpoint says %d", tn, next, cps[1].Size)
		}
		// Every live tail, on either node, sees every event.
		deadline := time.Now().Add(10 * time.Second)
		for i, tl := range tails[tn] {
			for tl.missing(cps[1].Size) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if m := tl.missing(cps[1].Size); m > 0 {
				t.Errorf("%s: the tail on node %d missed %d of %d events", tn, i, m, cps[1].Size)
			}
		}
	}
	cancel()
	a.stop(t)
	b.stop(t)
	code, out, errOut := runCmd(t, nil, "", "verify", "--postgres", dsn)
	if code != exitOK || !strings.HasPrefix(out, "OK: ") {
		t.Fatalf("trail verify --postgres: exit %d: %s%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
}

// getCheckpoint fetches and parses a tenant's checkpoint from a node.
func getCheckpoint(t *testing.T, base, key, tenant string) checkpoint.Checkpoint {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/log/checkpoint?tenant="+tenant, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	body, _, ok := bytes.Cut(data, []byte("\n\n"))
	if resp.StatusCode != http.StatusOK || !ok {
		t.Fatalf("checkpoint of %s: %d %s", tenant, resp.StatusCode, data)
	}
	c, err := checkpoint.ParseBody(append(body, '\n'))
	if err != nil {
		t.Fatalf("checkpoint of %s: %v", tenant, err)
	}
	return c
}

// verifyConsistency checks a consistency proof given in the API's base64
// form.
func verifyConsistency(from, to checkpoint.Checkpoint, proof []string) error {
	hs := make([]merkle.Hash, len(proof))
	for i, p := range proof {
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("bad hash %q", p)
		}
		hs[i] = merkle.Hash(b)
	}
	if from.Size == to.Size {
		if from.Root != to.Root {
			return fmt.Errorf("same size %d, different roots", from.Size)
		}
		return nil
	}
	return merkle.VerifyConsistency(from.Size, to.Size, hs, from.Root, to.Root)
}

// TestVerifyPostgresFindsSQLTampering changes one stored event with SQL
// behind trail's back; "trail verify --postgres" exits 3 and names the
// tenant and seq.
func TestVerifyPostgresFindsSQLTampering(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	const key = "verify-postgres-operator-key-0123456789"
	dir := t.TempDir()
	n := startNode(t, dsn, dir, key)
	var batch bytes.Buffer
	batch.WriteString(`{"events":[`)
	for i := range 20 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"tenant":"acme","action":"invoice.paid","actor":{"id":"u%d"}}`, i)
	}
	batch.WriteString(`]}`)
	call(t, http.MethodPost, n.url+"/v1/events", key, batch.Bytes(), nil)
	n.stop(t)
	vkey, err := verifierText(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, nil, "", "verify", "--postgres", dsn, "--verifier-key", vkey); code != exitOK {
		t.Fatalf("verify before tampering: exit %d: %s%s", code, out, errOut)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), `UPDATE trail_events SET data = convert_to(replace(convert_from(data, 'UTF8'), '"u7"', '"u8"'), 'UTF8'), actor_id = 'u8' WHERE tenant = 'acme' AND seq = 7`)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, nil, "", "verify", "--postgres", dsn, "--verifier-key", vkey)
	if code != exitTampered || !strings.Contains(out, "tenant acme") || !strings.Contains(out, "seq 7") {
		t.Fatalf("verify after tampering: exit %d, want %d naming tenant acme, seq 7: %s%s", code, exitTampered, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
}
