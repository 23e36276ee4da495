package sink_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trail-audit/trail/sink"
)

func TestFileRotation(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	appendN(t, st, "acme", "doc.read", 0, 200)
	cfg := sink.Sink{ID: "f", Tenant: "acme", Name: "file", Type: sink.TypeFile, Path: "audit/acme.ndjson", MaxSize: 8 << 10, Keep: 3, BatchSize: 10}
	d, err := sink.Open(&cfg, sink.Env{FileDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}, Destination: d})
	waitFor(t, "delivery", 10*time.Second, func() bool { return r.Status().Cursor == 200 })

	base := filepath.Join(dir, "audit", "acme.ndjson")
	files := []string{base + ".3", base + ".2", base + ".1", base} // oldest first
	var seqs []int64
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("missing %s: %v", p, err)
		}
		if fi.Size() > cfg.MaxSize {
			t.Errorf("%s is %d bytes, more than max_size %d", p, fi.Size(), cfg.MaxSize)
		}
		f, _ := os.Open(p)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e struct {
				Seq int64  `json:"seq"`
				ID  string `json:"id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == "" {
				t.Fatalf("%s: bad line %q: %v", p, sc.Text(), err)
			}
			seqs = append(seqs, e.Seq)
		}
		f.Close()
	}
	if _, err := os.Stat(base + ".4"); !os.IsNotExist(err) {
		t.Errorf("%s.4 exists; keep is 3", base)
	}
	// The kept files hold the newest events, contiguous, ending at 199.
	if len(seqs) == 0 || seqs[len(seqs)-1] != 199 {
		t.Fatalf("kept seqs end at %v, want 199", seqs[len(seqs)-1:])
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("kept seqs jump from %d to %d", seqs[i-1], seqs[i])
		}
	}
	if seqs[0] == 0 {
		t.Errorf("no event was rotated away: want the oldest dropped past keep=%d", cfg.Keep)
	}
	t.Logf("kept seqs %d..%d in %d files", seqs[0], seqs[len(seqs)-1], len(files))
}

func TestFileSinkStaysInItsDirectory(t *testing.T) {
	for _, p := range []string{"../x", "/etc/passwd", "", "a/../../b"} {
		cfg := sink.Sink{ID: "f", Tenant: "acme", Name: "file", Type: sink.TypeFile, Path: p}
		if _, err := sink.Open(&cfg, sink.Env{FileDir: t.TempDir()}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	// A symbolic link inside the directory cannot lead outside it.
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	appendN(t, st, "acme", "doc.read", 0, 1)
	cfg := sink.Sink{ID: "f", Tenant: "acme", Name: "file", Type: sink.TypeFile, Path: "link/x.ndjson"}
	d, err := sink.Open(&cfg, sink.Env{FileDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}, Destination: d})
	waitFor(t, "refusal", 5*time.Second, func() bool { return r.Status().State == sink.StateRetrying })
	if _, err := os.Stat(filepath.Join(outside, "x.ndjson")); err == nil {
		t.Error("file sink wrote through a symbolic link out of its directory")
	}
}
