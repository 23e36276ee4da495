package logstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/merkle"
	"github.com/trail-audit/trail/storetest"
)

var crashRounds = flag.Int("crash.rounds", 0, "rounds of TestCrash (default $TRAIL_CRASH_ROUNDS or 20)")

// Environment of the child process of TestCrash.
const (
	crashChildEnv = "TRAIL_CRASH_CHILD" // set in the child: the data directory
	crashRoundEnv = "TRAIL_CRASH_ROUND" // the round number, for unique ids
	crashKeysEnv  = "TRAIL_CRASH_KEYS"  // set in the child of TestCrashEncrypted: its keyring
)

// crashOptions are the store options of TestCrash: a small head and small
// WAL segments, so that flushes, compaction, segment rotation and WAL
// trimming all happen while the child is killed.
//
// With keys (a keyring's text), the store encrypts at rest.
func crashOptions(t testing.TB, dir, keys string) logstore.Options {
	opts := storeOptions(t, dir, vfs.OS())
	if keys != "" {
		ring, err := keyring.Parse(keys)
		if err != nil {
			t.Fatal(err)
		}
		opts.Encryption = ring
	}
	opts.HeadBytes = 256 << 10
	opts.SmallHeadBytes = 32 << 10 // background flushes leave small heads, keeping their WAL
	opts.WALSegmentSize = 128 << 10
	opts.ChunkRows = 32
	return opts
}

// crashReceipt is one acknowledged event as the child reported it.
type crashReceipt struct {
	tenant string
	seq    int64
	id     string
	hash   trail.Hash
}

// TestCrash re-executes the test binary as a child that appends from
// several goroutines, kills it with SIGKILL at a random moment, reopens the
// store and checks that every acknowledged event is there with its seq and
// leaf hash, that no event is half-written, that seqs are gapless and that
// verification is clean. Rounds accumulate on the same directory.
//
// The child reports each acknowledged batch on file descriptor 3, a pipe,
// only after Append returned nil; a line cut by the kill is ignored.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir, os.Getenv(crashKeysEnv))
		return
	}
	runCrash(t, "")
}

// TestCrashEncrypted is TestCrash with encryption at rest, the keyring
// rotating from k1 to k2 half-way, so that recovery reads WAL records and
// blocks sealed under both keys.
func TestCrashEncrypted(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		return // a child of TestCrash
	}
	runCrash(t, line(t, 0, "k1"))
}

// runCrash runs the rounds of TestCrash, encrypting with keys when not "".
func runCrash(t *testing.T, keys string) {
	if testing.Short() {
		t.Skip("crash test re-executes the test binary; skipped with -short")
	}
	rounds := 20
	if v := os.Getenv("TRAIL_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TRAIL_CRASH_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	if *crashRounds > 0 {
		rounds = *crashRounds
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TRAIL_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("TRAIL_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("%d rounds, seed %d (rerun with TRAIL_CRASH_SEED=%d)", rounds, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	acks := map[string]map[int64]crashReceipt{} // tenant → seq → receipt, over all rounds
	total := 0
	for round := range rounds {
		if keys != "" && round == rounds/2 {
			keys += line(t, 0, "k2")
		}
		kill := time.Duration(50+rng.IntN(351)) * time.Millisecond
		// One round in four counts from the start of the process, so
		// that the kill may land in recovery; the others from the end
		// of Open, so that the store always gets to append and flush.
		duringOpen := rng.IntN(4) == 0
		got := runCrashChild(t, dir, keys, round, kill, duringOpen)
		for _, r := range got {
			m := acks[r.tenant]
			if m == nil {
				m = map[int64]crashReceipt{}
				acks[r.tenant] = m
			}
			if old, ok := m[r.seq]; ok {
				t.Fatalf("round %d: %s seq %d acknowledged twice: %s, then %s", round, r.tenant, r.seq, old.id, r.id)
			}
			m[r.seq] = r
		}
		total += len(got)
		if !checkCrashRound(t, dir, keys, round, acks) {
			t.Fatalf("round %d failed (killed %v after %s); seed %d", round, kill, killFrom(duringOpen), seed)
		}
		t.Logf("round %d: killed %v after %s, %d events acknowledged, %d in all", round, kill, killFrom(duringOpen), len(got), total)
	}
	if total == 0 {
		t.Fatalf("no append was acknowledged in %d rounds: the child never got going", rounds)
	}
}

func killFrom(duringOpen bool) string {
	if duringOpen {
		return "start"
	}
	return "open"
}

// runCrashChild runs one child on dir and kills it d after it opened the
// store or, when duringOpen, d after it started (so that some kills land in
// recovery). It returns the receipts the child reported.
func runCrashChild(t *testing.T, dir, keys string, round int, d time.Duration, duringOpen bool) []crashReceipt {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round), crashKeysEnv+"="+keys)
	cmd.ExtraFiles = []*os.File{pw}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatalf("start child: %v", err)
	}
	pw.Close() // the child holds the only write end: EOF when it dies
	opened := make(chan struct{})
	var lines []string
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				// At EOF, a line without its newline was cut by the kill:
				// it does not count.
				if err != io.EOF {
					readErr = err
				}
				return
			}
			if line == crashOpened {
				close(opened)
				continue
			}
			lines = append(lines, line)
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if !duringOpen {
		select {
		case err := <-exited:
			t.Fatalf("round %d: child exited before it opened the store: %v\n%s", round, err, stderr.String())
		case <-opened:
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("round %d: child exited before it was killed: %v\n%s", round, err, stderr.String())
	case <-time.After(d):
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	err = <-exited
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want killed by SIGKILL\n%s", round, err, stderr.String())
	}
	<-readDone
	if readErr != nil {
		t.Fatalf("read child receipts: %v", readErr)
	}
	var out []crashReceipt
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("round %d: bad receipt line %q", round, line)
		}
		seq, err1 := strconv.ParseInt(f[1], 10, 64)
		h, err2 := base64.StdEncoding.DecodeString(f[3])
		if err1 != nil || err2 != nil || len(h) != len(trail.Hash{}) {
			t.Fatalf("round %d: bad receipt line %q", round, line)
		}
		out = append(out, crashReceipt{tenant: f[0], seq: seq, id: f[2], hash: trail.Hash(h)})
	}
	return out
}

// crashOpened is the line the child writes once the store is open.
const crashOpened = "opened\n"

// crashChild is the body of the child process: it appends until killed.
func crashChild(t *testing.T, dir, keys string) {
	acks := os.NewFile(3, "acks")
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	s, err := logstore.Open(crashOptions(t, dir, keys))
	if err != nil {
		t.Fatalf("child: open: %v", err) // the parent sees an early exit
	}
	if _, err := io.WriteString(acks, crashOpened); err != nil {
		os.Exit(2)
	}
	// A child the parent forgot would append forever.
	deadline := time.AfterFunc(time.Minute, func() { os.Exit(3) })
	defer deadline.Stop()
	var mu sync.Mutex // one write per batch, never interleaved
	var wg sync.WaitGroup
	for gr := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := storetest.NewGen(uint64(round*100+gr), 4)
			rng := rand.New(rand.NewPCG(uint64(round), uint64(gr)))
			for n := 0; ; {
				batch := make([]*trail.Event, 1+rng.IntN(50))
				for i := range batch {
					batch[i] = g.Event(g.Tenant(), time.Time{})
					batch[i].ID = fmt.Sprintf("r%d-g%d-%d", round, gr, n)
					n++
				}
				res, err := s.Append(context.Background(), batch)
				if err != nil {
					t.Errorf("child: append: %v", err)
					os.Exit(2)
				}
				var b []byte
				for _, r := range res.Receipts {
					b = fmt.Appendf(b, "%s %d %s %s\n", r.Tenant, r.Seq, r.ID, r.LeafHash)
				}
				mu.Lock()
				_, err = acks.Write(b)
				mu.Unlock()
				if err != nil {
					os.Exit(2)
				}
			}
		}()
	}
	wg.Wait()
}

// checkCrashRound reopens the store after a kill and checks it against
// every receipt acknowledged so far. It reports whether all was well.
func checkCrashRound(t *testing.T, dir, keys string, round int, acks map[string]map[int64]crashReceipt) bool {
	t.Helper()
	ctx := context.Background()
	opts := crashOptions(t, dir, keys)
	s, err := logstore.Open(opts)
	if err != nil {
		t.Errorf("round %d: reopen after kill: %v", round, err)
		return false
	}
	defer s.Close()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("round %d: "+format, append([]any{round}, args...)...)
		ok = false
	}
	tenants, err := s.Tenants(ctx)
	if err != nil {
		fail("Tenants: %v", err)
		return false
	}
	sizes := map[string]int64{}
	for _, tn := range tenants {
		sizes[tn.Name] = tn.Size
	}
	for tn, m := range acks {
		recs := readAll(t, s, tn)
		if int64(len(recs)) != sizes[tn] {
			fail("Read(%s): %d records, Tenants says %d", tn, len(recs), sizes[tn])
		}
		ids := map[string]int64{}
		for i, r := range recs {
			if r.Seq != int64(i) {
				fail("Read(%s)[%d]: seq %d, want %d (gapless)", tn, i, r.Seq, i)
				break
			}
			// No half-written event: the stored bytes are a whole event
			// whose hash is the leaf hash in the tree.
			if h := sha256.Sum256(append([]byte{0}, r.Data...)); trail.Hash(h) != r.LeafHash {
				fail("Read(%s)[%d]: data does not hash to its leaf hash", tn, i)
				break
			}
			ev, err := trail.DecodeEvent(r.Data)
			if err != nil {
				fail("Read(%s)[%d]: undecodable event: %v", tn, i, err)
				break
			}
			if prev, dup := ids[ev.ID]; dup {
				fail("Read(%s): id %s at seqs %d and %d", tn, ev.ID, prev, i)
			}
			ids[ev.ID] = int64(i)
		}
		var maxSeq int64 = -1
		for seq, a := range m {
			maxSeq = max(maxSeq, seq)
			if seq >= int64(len(recs)) {
				fail("acknowledged %s seq %d (%s) is missing: the log holds %d events", tn, seq, a.id, len(recs))
				continue
			}
			if recs[seq].LeafHash != a.hash || ids[a.id] != seq {
				fail("acknowledged %s seq %d: stored leaf hash %v id at seq %d, want %v and %s", tn, seq, recs[seq].LeafHash, ids[a.id], a.hash, a.id)
			}
		}
		cp, err := s.Checkpoint(ctx, tn)
		if err != nil {
			fail("Checkpoint(%s): %v", tn, err)
			continue
		}
		_, verifier := testKey(t)
		c, err := checkpoint.Open(cp.Note, verifier)
		if err != nil || c.Origin != "trail.test/"+tn || c.Size != cp.Size || trail.Hash(c.Root) != cp.Root {
			fail("Checkpoint(%s): note does not verify as %s size %d root %v: %+v, %v", tn, cp.Origin, cp.Size, cp.Root, c, err)
			continue
		}
		if cp.Size != int64(len(recs)) || cp.Size <= maxSeq {
			fail("Checkpoint(%s) covers %d events, want all %d stored, past acknowledged seq %d", tn, cp.Size, len(recs), maxSeq)
			continue
		}
		// A sample of receipts (map order is random): inclusion in the
		// latest checkpoint, and Get by id.
		n := 0
		for seq, a := range m {
			if n++; n > 5 {
				break
			}
			p, err := s.InclusionProof(ctx, tn, seq, cp.Size)
			if err != nil {
				fail("InclusionProof(%s, %d, %d): %v", tn, seq, cp.Size, err)
				continue
			}
			if err := merkle.VerifyInclusion(merkle.Hash(a.hash), seq, cp.Size, toMerkle(p.Hashes), merkle.Hash(cp.Root)); err != nil {
				fail("inclusion of acknowledged %s seq %d in checkpoint %d: %v", tn, seq, cp.Size, err)
			}
			ev, err := s.Get(ctx, tn, a.id)
			if err != nil || ev.Seq != seq || ev.LeafHash == nil || *ev.LeafHash != a.hash {
				fail("Get(%s, %s): %v, %v; want seq %d leaf hash %v", tn, a.id, ev, err, seq, a.hash)
			}
		}
	}
	if _, err := s.Verify(ctx); err != nil {
		fail("Verify: %v", err)
	}
	return ok
}

func toMerkle(hs []trail.Hash) []merkle.Hash {
	out := make([]merkle.Hash, len(hs))
	for i, h := range hs {
		out[i] = merkle.Hash(h)
	}
	return out
}
