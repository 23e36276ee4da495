package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openTestSpool(t *testing.T, dir string, maxBytes int64) *spool {
	t.Helper()
	s, err := openSpool(dir, maxBytes, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(i int) []byte {
	return fmt.Appendf(nil, `{"id":"e%04d","action":"a","actor":{"id":"u"}}`, i)
}

// drain reads and removes every segment, returning the payloads in order.
func drain(t *testing.T, s *spool) [][]byte {
	t.Helper()
	var all [][]byte
	for {
		seg, recs, ok, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return all
		}
		for _, r := range recs {
			all = append(all, bytes.Clone(r))
		}
		if err := s.remove(seg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoolKeepsOrderAcrossSegmentsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20) // segments of 128 KiB
	var want [][]byte
	for i := range 3000 {
		want = append(want, payload(i))
	}
	for i := 0; i < len(want); i += 100 {
		if err := s.append(want[i : i+100]); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.spool"))
	if len(segs) < 2 {
		t.Fatalf("%d segments, want the spool to rotate", len(segs))
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s = openTestSpool(t, dir, 1<<20)
	defer s.close()
	if s.recovered != len(want) {
		t.Fatalf("recovered %d records, want %d", s.recovered, len(want))
	}
	got := drain(t, s)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d = %s, want %s", i, got[i], want[i])
		}
	}
	if b := s.bytes(); b != 0 {
		t.Errorf("spool holds %d bytes after draining, want 0", b)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.spool")); len(segs) != 0 {
		t.Errorf("segments left after draining: %v", segs)
	}
}

func TestSpoolBound(t *testing.T) {
	const maxBytes = 10 << 10
	s := openTestSpool(t, t.TempDir(), maxBytes)
	defer s.close()
	n := 0
	var err error
	for ; n < 10000; n++ {
		if err = s.append([][]byte{payload(n)}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("append past the bound = %v, want ErrSpoolFull", err)
	}
	if b := s.bytes(); b > maxBytes || b < maxBytes-int64(len(payload(0))+recordHeader) {
		t.Errorf("spool holds %d bytes when full, want just under %d", b, maxBytes)
	}
	var onDisk int64
	segs, _ := filepath.Glob(filepath.Join(s.dir, "*.spool"))
	for _, p := range segs {
		st, _ := os.Stat(p)
		onDisk += st.Size()
	}
	if onDisk != s.bytes() {
		t.Errorf("files hold %d bytes, spool counts %d", onDisk, s.bytes())
	}
	// A batch is all or nothing: a refused one leaves no partial records.
	if err := s.append([][]byte{payload(1), payload(2)}); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("append = %v, want ErrSpoolFull", err)
	}
	if got := len(drain(t, s)); got != n {
		t.Errorf("drained %d records, want the %d accepted", got, n)
	}
	if err := s.append([][]byte{payload(0)}); err != nil {
		t.Errorf("append after draining: %v", err)
	}
}

func TestSpoolRecovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(seg []byte) []byte
		records int
	}{
		{"intact", func(b []byte) []byte { return b }, 10},
		{"cut inside a header", func(b []byte) []byte { return b[:len(b)-len(payload(9))-3] }, 9},
		{"cut inside a payload", func(b []byte) []byte { return b[:len(b)-4] }, 9},
		{"checksum mismatch", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }, 9},
		{"zero length record", func(b []byte) []byte { return append(b, 0, 0, 0, 0, 0, 0, 0, 0) }, 10},
		{"huge length", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0) }, 10},
		{"no magic", func(b []byte) []byte { return b[:3] }, 0},
		{"wrong magic", func(b []byte) []byte { c := bytes.Clone(b); c[0] = 'X'; return c }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestSpool(t, dir, 1<<20)
			for i := range 10 {
				if err := s.append([][]byte{payload(i)}); err != nil {
					t.Fatal(err)
				}
			}
			s.close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.spool"))
			if len(segs) != 1 {
				t.Fatalf("segments %v, want 1", segs)
			}
			data, _ := os.ReadFile(segs[0])
			if err := os.WriteFile(segs[0], tc.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			s = openTestSpool(t, dir, 1<<20)
			defer s.close()
			if s.recovered != tc.records {
				t.Errorf("recovered %d records, want %d", s.recovered, tc.records)
			}
			got := drain(t, s)
			if len(got) != tc.records {
				t.Fatalf("read %d records, want %d", len(got), tc.records)
			}
			for i, r := range got {
				if !bytes.Equal(r, payload(i)) {
					t.Errorf("record %d = %s", i, r)
				}
			}
			// Appends after recovery land after what was kept.
			if err := s.append([][]byte{payload(99)}); err != nil {
				t.Fatal(err)
			}
			if got := drain(t, s); len(got) != 1 || !bytes.Equal(got[0], payload(99)) {
				t.Errorf("after recovery read %q, want the new record", got)
			}
		})
	}
}

func FuzzReadRecords(f *testing.F) {
	var two []byte
	two = appendRecord(two, []byte(`{"id":"a"}`))
	two = appendRecord(two, []byte(`{"id":"b","action":"x"}`))
	f.Add(two)
	f.Add(two[:len(two)-1])
	f.Add(two[:5])
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, good, err := readRecords(data)
		if good < 0 || good > len(data) {
			t.Fatalf("good = %d outside [0, %d]", good, len(data))
		}
		if (err == nil) != (good == len(data)) {
			t.Fatalf("err = %v with %d of %d bytes good", err, good, len(data))
		}
		// The kept records are exactly the good prefix, framed.
		var again []byte
		for _, r := range recs {
			if len(r) == 0 {
				t.Fatal("empty record kept")
			}
			again = appendRecord(again, r)
		}
		if !bytes.Equal(again, data[:good]) {
			t.Fatalf("re-framing the %d records gives %d bytes, want the %d good ones", len(recs), len(again), good)
		}
		// Whatever follows a good prefix cannot change what it holds.
		more, good2, _ := readRecords(append(bytes.Clone(data[:good]), 1, 2, 3))
		if good2 != good || len(more) != len(recs) {
			t.Fatalf("appending a torn tail changed the good prefix from %d to %d bytes", good, good2)
		}
	})
}

// TestSpoolGroupCommit: concurrent appends are all kept, each writer's
// in its order, with fewer fsyncs than appends.
func TestSpoolGroupCommit(t *testing.T) {
	s := openTestSpool(t, t.TempDir(), 1<<20)
	defer s.close()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.append([][]byte{fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	syncs, reserved := s.syncs, s.reserved
	s.mu.Unlock()
	t.Logf("%d appends in %d fsyncs", writers*each, syncs)
	if syncs >= writers*each {
		t.Errorf("%d fsyncs for %d concurrent appends, want groups to share them", syncs, writers*each)
	}
	if reserved != 0 {
		t.Errorf("%d bytes still reserved after every append returned", reserved)
	}
	next := make([]int, writers)
	for _, r := range drain(t, s) {
		var v struct{ W, I int }
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		if v.I != next[v.W] {
			t.Fatalf("writer %d: record %d after %d", v.W, v.I, next[v.W]-1)
		}
		next[v.W]++
	}
	for w, n := range next {
		if n != each {
			t.Errorf("writer %d: %d records kept, want %d", w, n, each)
		}
	}
}
