package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/logstore/wal"
)

// record returns the i-th test payload; lengths vary from 11 to 50 bytes.
func record(i int) []byte {
	s := fmt.Sprintf("record-%04d:", i)
	return []byte(s + strings.Repeat("x", (i*7)%40))
}

func frameSize(p []byte) int64 { return int64(8 + len(p)) }

func open(t testing.TB, dir string, opts wal.Options) *wal.Log {
	t.Helper()
	l, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// appendEach appends records first..first+n-1, one Append each, syncs, and
// returns the position after each.
func appendEach(t testing.TB, l *wal.Log, first, n int) []wal.Position {
	t.Helper()
	var pos []wal.Position
	for i := first; i < first+n; i++ {
		p, err := l.Append(record(i))
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		pos = append(pos, p)
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return pos
}

// replay returns every record after from, and the position after each.
func replay(t testing.TB, l *wal.Log, from wal.Position) ([]string, []wal.Position) {
	t.Helper()
	var got []string
	var pos []wal.Position
	err := l.Replay(from, func(p wal.Position, payload []byte) error {
		got = append(got, string(payload))
		pos = append(pos, p)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(%v): %v", from, err)
	}
	return got, pos
}

// reopenAndReplay closes l, reopens dir on the real file system and
// returns every record.
func reopenAndReplay(t testing.TB, l *wal.Log, dir string) []string {
	t.Helper()
	l.Close()
	l = open(t, dir, wal.Options{})
	defer l.Close()
	got, _ := replay(t, l, wal.Position{})
	return got
}

func records(indexes ...int) []string {
	var s []string
	for _, i := range indexes {
		s = append(s, string(record(i)))
	}
	return s
}

func span(from, to int) []int { // [from, to)
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const segSize = 200
	l := open(t, dir, wal.Options{SegmentSize: segSize})
	if got, want := l.End(), (wal.Position{Segment: 1}); got != want {
		t.Fatalf("End of a new log: got %v, want %v", got, want)
	}
	pos := appendEach(t, l, 0, 40)
	// One batch of three records: the returned position is after the last.
	batchEnd, err := l.Append(record(40), record(41), record(42))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	end := l.End()
	if batchEnd != end {
		t.Errorf("batch Append: got %v, want End %v", batchEnd, end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	files := segmentFiles(t, dir)
	if len(files) < 4 {
		t.Fatalf("got segments %v, want several with SegmentSize %d", files, segSize)
	}
	for i, name := range files {
		if want := fmt.Sprintf("%08d.wal", i+1); name != want {
			t.Errorf("segment %d: got %s, want %s", i, name, want)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if max := int64(segSize + 3*(8+50)); fi.Size() > max {
			t.Errorf("%s has %d bytes, want at most %d", name, fi.Size(), max)
		}
	}

	l = open(t, dir, wal.Options{SegmentSize: segSize})
	defer l.Close()
	if got := l.End(); got != end {
		t.Errorf("End after reopen: got %v, want %v", got, end)
	}
	if at, removed := l.TornTail(); removed != 0 || at != end {
		t.Errorf("TornTail of a clean log: got (%v, %d), want (%v, 0)", at, removed, end)
	}
	all, allPos := replay(t, l, wal.Position{})
	if want := records(span(0, 43)...); !slices.Equal(all, want) {
		t.Fatalf("Replay: got %q, want %q", all, want)
	}
	if !slices.Equal(allPos[:40], pos) {
		t.Errorf("Replay positions: got %v, want %v", allPos[:40], pos)
	}

	tests := []struct {
		name string
		from wal.Position
		want []string
	}{
		{"from the start", wal.Position{}, records(span(0, 43)...)},
		{"from a middle record", pos[16], records(span(17, 43)...)},
		{"from the first record", pos[0], records(span(1, 43)...)},
		{"from the end", end, nil},
	}
	// The end of a whole segment equals the start of the next.
	for i := 1; i < len(pos); i++ {
		if pos[i].Segment != pos[i-1].Segment {
			tests = append(tests, struct {
				name string
				from wal.Position
				want []string
			}{"from a segment's end", pos[i-1], records(span(i, 43)...)})
			break
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := replay(t, l, tt.from)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Replay(%v): got %q, want %q", tt.from, got, tt.want)
			}
		})
	}

	t.Run("past the end", func(t *testing.T) {
		for _, from := range []wal.Position{{Segment: end.Segment, Offset: end.Offset + 1}, {Segment: end.Segment + 1}} {
			if err := l.Replay(from, func(wal.Position, []byte) error { return nil }); err == nil {
				t.Errorf("Replay(%v): got nil error, want one", from)
			}
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := l.Replay(wal.Position{}, func(wal.Position, []byte) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("got (%v, %d calls), want (%v, 1 call)", err, n, stop)
		}
	})
}

func TestAppendRules(t *testing.T) {
	l := open(t, t.TempDir(), wal.Options{})
	defer l.Close()
	if err := l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil }); err != nil {
		t.Fatalf("Replay of an empty log: %v", err)
	}
	for _, p := range [][]byte{nil, {}} {
		if _, err := l.Append(record(0), p); err == nil {
			t.Errorf("Append with an empty payload: got nil error, want one")
		}
	}
	if got, want := l.End(), (wal.Position{Segment: 1}); got != want {
		t.Errorf("End after rejected Appends: got %v, want %v", got, want)
	}
	if _, err := l.Append(record(0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil }); err == nil {
		t.Errorf("Replay after Append: got nil error, want one")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(record(1)); !errors.Is(err, wal.ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
}

// writeLog creates a log of n records in one segment and returns the
// segment file's path and the offset where each record's frame starts.
func writeLog(t *testing.T, dir string, n int) (string, []int64) {
	t.Helper()
	l := open(t, dir, wal.Options{})
	var starts []int64
	for i := range n {
		starts = append(starts, l.End().Offset)
		if _, err := l.Append(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "00000001.wal"), starts
}

func TestTornTailEveryCut(t *testing.T) {
	const n = 5
	last := record(n - 1)
	for cut := int64(1); cut < frameSize(last); cut++ {
		t.Run(fmt.Sprintf("cut %d of %d", cut, frameSize(last)), func(t *testing.T) {
			dir := t.TempDir()
			seg, starts := writeLog(t, dir, n)
			start := starts[n-1]
			if err := os.Truncate(seg, start+cut); err != nil {
				t.Fatal(err)
			}
			l := open(t, dir, wal.Options{})
			at, removed := l.TornTail()
			if want := (wal.Position{Segment: 1, Offset: start}); at != want || removed != cut {
				t.Errorf("TornTail: got (%v, %d), want (%v, %d)", at, removed, want, cut)
			}
			got, _ := replay(t, l, wal.Position{})
			if want := records(span(0, n-1)...); !slices.Equal(got, want) {
				t.Fatalf("Replay: got %q, want %q", got, want)
			}
			appendEach(t, l, 100, 1)
			if got, want := reopenAndReplay(t, l, dir), records(append(span(0, n-1), 100)...); !slices.Equal(got, want) {
				t.Errorf("Replay after a new Append: got %q, want %q", got, want)
			}
		})
	}
}

func TestTornTailGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	badCRC := append([]byte{5, 0, 0, 0, 1, 2, 3, 4}, "hello"...)
	tests := []struct {
		name    string
		garbage []byte
	}{
		{"one byte", random(1)},
		{"partial header", random(7)},
		{"random 100", random(100)},
		{"random 5000", random(5000)},
		{"zeros", make([]byte, 4096)},
		{"huge length", []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 'a'}},
		{"bad checksum", badCRC},
		{"bad checksum then zeros", append(slices.Clone(badCRC), make([]byte, 64)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			seg, _ := writeLog(t, dir, 3)
			fi, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tt.garbage); err != nil {
				t.Fatal(err)
			}
			f.Close()

			l := open(t, dir, wal.Options{})
			at, removed := l.TornTail()
			if want := (wal.Position{Segment: 1, Offset: fi.Size()}); at != want || removed != int64(len(tt.garbage)) {
				t.Errorf("TornTail: got (%v, %d), want (%v, %d)", at, removed, want, len(tt.garbage))
			}
			got, _ := replay(t, l, wal.Position{})
			if want := records(0, 1, 2); !slices.Equal(got, want) {
				t.Fatalf("Replay: got %q, want %q", got, want)
			}
			appendEach(t, l, 3, 2)
			if got, want := reopenAndReplay(t, l, dir), records(0, 1, 2, 3, 4); !slices.Equal(got, want) {
				t.Errorf("Replay after new Appends: got %q, want %q", got, want)
			}
		})
	}
}

func TestCorruption(t *testing.T) {
	type damage func(t *testing.T, dir string, starts map[int][]int64)
	flip := func(seg int, rec int, at int64) damage {
		return func(t *testing.T, dir string, starts map[int][]int64) {
			name := filepath.Join(dir, fmt.Sprintf("%08d.wal", seg))
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			data[starts[seg][rec]+at] ^= 0x40
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name       string
		segSize    int64
		damage     damage
		wantSeg    int
		wantRecord int // index within the segment of the record named
	}{
		{"payload byte in a middle record of the last segment", 0, flip(1, 2, 12), 1, 2},
		{"checksum byte in a middle record of the last segment", 0, flip(1, 2, 5), 1, 2},
		{"length byte in a middle record of the last segment", 0, flip(1, 2, 0), 1, 2},
		{"payload byte in the first record", 0, flip(1, 0, 9), 1, 0},
		{"payload byte in an older segment", 150, flip(1, 1, 10), 1, 1},
		{"last record of an older segment", 150, func(t *testing.T, dir string, starts map[int][]int64) {
			flip(2, len(starts[2])-1, 10)(t, dir, starts)
		}, 2, -1},
		{"older segment truncated", 150, func(t *testing.T, dir string, starts map[int][]int64) {
			name := filepath.Join(dir, "00000001.wal")
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(name, fi.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, 1, -1},
		{"segment missing", 150, func(t *testing.T, dir string, starts map[int][]int64) {
			if err := os.Remove(filepath.Join(dir, "00000002.wal")); err != nil {
				t.Fatal(err)
			}
		}, 2, -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, wal.Options{SegmentSize: tt.segSize})
			starts := map[int][]int64{}
			for i := range 12 {
				before := l.End()
				end, err := l.Append(record(i))
				if err != nil {
					t.Fatal(err)
				}
				if end.Segment != before.Segment { // a new segment started
					before = wal.Position{Segment: end.Segment}
				}
				starts[end.Segment] = append(starts[end.Segment], before.Offset)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if tt.segSize > 0 && len(starts) < 3 {
				t.Fatalf("got %d segments, want at least 3", len(starts))
			}
			tt.damage(t, dir, starts)
			snapshot := readDir(t, dir)

			l, err := wal.Open(dir, wal.Options{SegmentSize: tt.segSize})
			if err == nil {
				l.Close()
				t.Fatal("Open: got nil error, want a *CorruptionError")
			}
			var ce *wal.CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: got %v, want a *CorruptionError", err)
			}
			var wantOff int64
			switch tt.wantRecord {
			case -1: // the last record of the segment
				wantOff = starts[tt.wantSeg][len(starts[tt.wantSeg])-1]
			case -2: // a missing segment
				wantOff = 0
			default:
				wantOff = starts[tt.wantSeg][tt.wantRecord]
			}
			if ce.Segment != tt.wantSeg || ce.Offset != wantOff {
				t.Errorf("got segment %d offset %d (%v), want segment %d offset %d", ce.Segment, ce.Offset, err, tt.wantSeg, wantOff)
			}
			if got := readDir(t, dir); !equalFiles(got, snapshot) {
				t.Errorf("Open modified the log after reporting corruption")
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range segmentFiles(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestFaults(t *testing.T) {
	// Each case starts from a log holding records 0-2, synced, runs fail with
	// the fault armed, clears it, appends and syncs record 100, and reopens.
	type failing func(t *testing.T, l *wal.Log) error
	appendOne := func(t *testing.T, l *wal.Log) error {
		_, err := l.Append(record(10))
		return err
	}
	appendThenSync := func(t *testing.T, l *wal.Log) error {
		if _, err := l.Append(record(10), record(11)); err != nil {
			t.Fatalf("Append: %v", err)
		}
		return l.Sync()
	}
	tests := []struct {
		name      string
		segSize   int64
		fault     vfs.Fault
		fail      failing
		wantErr   error
		wantAfter []string // records after reopening
	}{
		{"ENOSPC on write", 0, vfs.Fault{Op: "write", Err: syscall.ENOSPC}, appendOne, syscall.ENOSPC, records(0, 1, 2, 100)},
		{"short write", 0, vfs.Fault{Op: "write", Short: 11}, appendOne, nil, records(0, 1, 2, 100)},
		{"short write of a batch, one record whole", 0, vfs.Fault{Op: "write", Short: int(frameSize(record(10))) + 3, Err: syscall.ENOSPC},
			func(t *testing.T, l *wal.Log) error {
				_, err := l.Append(record(10), record(11))
				return err
			}, syscall.ENOSPC, records(0, 1, 2, 100)},
		{"EIO on sync", 0, vfs.Fault{Op: "sync", Err: syscall.EIO, Times: 1}, appendThenSync, syscall.EIO, records(0, 1, 2, 100)},
		{"EIO on directory sync after a new segment", 1, vfs.Fault{Op: "syncdir", Err: syscall.EIO, Times: 1}, appendThenSync, syscall.EIO, records(0, 1, 2, 100)},
		{"EIO syncing the old segment when starting a new one", 1, vfs.Fault{Op: "sync", Err: syscall.EIO, Times: 1},
			func(t *testing.T, l *wal.Log) error {
				if _, err := l.Append(record(10)); err != nil { // not synced
					t.Fatalf("Append: %v", err)
				}
				_, err := l.Append(record(11)) // starts a segment: syncs 10 first
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Append starting a segment: got %v, want EIO", err)
				}
				return l.Sync() // must report that record 10 was lost
			}, syscall.EIO, records(0, 1, 2, 100)},
		{"segment creation fails", 1, vfs.Fault{Op: "open", Err: syscall.EMFILE}, appendOne, syscall.EMFILE, records(0, 1, 2, 100)},
	}
	for _, prealloc := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/preallocate=%v", tt.name, prealloc), func(t *testing.T) {
				dir := t.TempDir()
				fsys := vfs.NewFaulty(vfs.OS())
				segSize := tt.segSize
				if prealloc && segSize == 0 {
					segSize = 64 << 10 // a 16 KiB step, not the default 16 MiB
				}
				l := open(t, dir, wal.Options{SegmentSize: segSize, FS: fsys, Preallocate: prealloc})
				appendEach(t, l, 0, 3)
				before := l.End()

				fsys.Inject(tt.fault)
				err := tt.fail(t, l)
				if err == nil {
					t.Fatal("got nil error, want one")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				if errors.Is(err, wal.ErrFailed) {
					t.Fatalf("got %v, want a recoverable error", err)
				}
				if fsys.Hits() == 0 {
					t.Fatal("the fault never fired")
				}
				// The log ends where it did, or at the start of the segment the
				// failed call created: either way at a record boundary.
				if got, next := l.End(), (wal.Position{Segment: before.Segment + 1}); got != before && got != next {
					t.Errorf("End after the failure: got %v, want %v or %v", got, before, next)
				}
				fsys.Clear()
				appendEach(t, l, 100, 1)
				if got := reopenAndReplay(t, l, dir); !slices.Equal(got, tt.wantAfter) {
					t.Errorf("Replay after reopen: got %q, want %q", got, tt.wantAfter)
				}
			})
		}
	}
}

func TestFailedState(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	l := open(t, dir, wal.Options{FS: fsys})
	appendEach(t, l, 0, 3)

	fsys.Inject(vfs.Fault{Op: "write", Short: 5, Err: syscall.EIO})
	fsys.Inject(vfs.Fault{Op: "truncate", Err: syscall.EIO})
	_, err := l.Append(record(3))
	if !errors.Is(err, wal.ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append when the repair fails: got %v, want ErrFailed and EIO", err)
	}
	fsys.Clear()
	calls := map[string]func() error{
		"Append":       func() error { _, err := l.Append(record(4)); return err },
		"Sync":         l.Sync,
		"RemoveBefore": func() error { return l.RemoveBefore(l.End()) },
		"Replay":       func() error { return l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil }) },
		"Close":        l.Close,
	}
	for _, name := range []string{"Append", "Sync", "RemoveBefore", "Replay", "Close"} {
		if err := calls[name](); !errors.Is(err, wal.ErrFailed) {
			t.Errorf("%s on a failed Log: got %v, want ErrFailed", name, err)
		}
	}

	l = open(t, dir, wal.Options{})
	if _, removed := l.TornTail(); removed != 5 {
		t.Errorf("TornTail after reopen: removed %d bytes, want the 5 of the half record", removed)
	}
	appendEach(t, l, 100, 1)
	if got, want := reopenAndReplay(t, l, dir), records(0, 1, 2, 100); !slices.Equal(got, want) {
		t.Errorf("Replay after reopen: got %q, want %q", got, want)
	}
}

func TestRemoveBefore(t *testing.T) {
	tests := []struct {
		name string
		// at picks the position to remove before, given the position after
		// each record.
		at        func(pos []wal.Position) wal.Position
		wantFirst int // first segment left
	}{
		{"zero position", func([]wal.Position) wal.Position { return wal.Position{} }, 1},
		{"inside the first segment", func(pos []wal.Position) wal.Position { return pos[0] }, 1},
		{"end of the second segment", func(pos []wal.Position) wal.Position { return lastIn(pos, 2) }, 3},
		{"just before the end of the second segment", func(pos []wal.Position) wal.Position {
			p := lastIn(pos, 2)
			p.Offset--
			return p
		}, 2},
		{"inside the third segment", func(pos []wal.Position) wal.Position { return wal.Position{Segment: 3, Offset: 1} }, 3},
		{"the end never removes the current segment", func(pos []wal.Position) wal.Position { return pos[len(pos)-1] }, -1},
		{"past the end", func(pos []wal.Position) wal.Position { return wal.Position{Segment: 1 << 30} }, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, wal.Options{SegmentSize: 100})
			defer l.Close()
			pos := appendEach(t, l, 0, 30)
			current := l.End().Segment
			if current < 4 {
				t.Fatalf("got %d segments, want at least 4", current)
			}
			p := tt.at(pos)
			if err := l.RemoveBefore(p); err != nil {
				t.Fatalf("RemoveBefore(%v): %v", p, err)
			}
			wantFirst := tt.wantFirst
			if wantFirst < 0 {
				wantFirst = current
			}
			var want []string
			for i := wantFirst; i <= current; i++ {
				want = append(want, fmt.Sprintf("%08d.wal", i))
			}
			if got := segmentFiles(t, dir); !slices.Equal(got, want) {
				t.Errorf("segments left: got %v, want %v", got, want)
			}
			// What is left still opens and replays from the first record
			// of the first segment left.
			l.Close()
			l = open(t, dir, wal.Options{SegmentSize: 100})
			got, _ := replay(t, l, wal.Position{})
			first := 0
			for first < len(pos) && pos[first].Segment < wantFirst {
				first++
			}
			if want := records(span(first, 30)...); !slices.Equal(got, want) {
				t.Errorf("Replay: got %q, want %q", got, want)
			}
		})
	}
}

func lastIn(pos []wal.Position, segment int) wal.Position {
	var last wal.Position
	for _, p := range pos {
		if p.Segment == segment {
			last = p
		}
	}
	return last
}

// fileBytes returns the contents of a file.
func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// allZero reports whether every byte of b is zero.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestPreallocate(t *testing.T) {
	dir := t.TempDir()
	opts := wal.Options{SegmentSize: 64 << 10, Preallocate: true} // a 16 KiB step
	l := open(t, dir, opts)
	appendEach(t, l, 0, 10)
	end := l.End()
	seg1 := filepath.Join(dir, "00000001.wal")
	b := fileBytes(t, seg1)
	if int64(len(b)) <= end.Offset {
		t.Fatalf("segment is %d bytes with records up to %d: want a zero tail", len(b), end.Offset)
	}
	if !allZero(b[end.Offset:]) {
		t.Fatal("the preallocated tail is not all zeros")
	}

	// Reopened, the zero tail is a clean end: nothing is reported torn or
	// removed, and the records continue after the last one.
	l.Close()
	l = open(t, dir, opts)
	if at, removed := l.TornTail(); at != end || removed != 0 {
		t.Errorf("TornTail after a clean close: got (%v, %d), want (%v, 0)", at, removed, end)
	}
	if got, _ := replay(t, l, wal.Position{}); !slices.Equal(got, records(span(0, 10)...)) {
		t.Fatalf("Replay: got %q", got)
	}
	if n := int64(len(fileBytes(t, seg1))); n != int64(len(b)) {
		t.Errorf("Open changed the segment's size from %d to %d", len(b), n)
	}

	// Fill past the segment size: the sealed segment is trimmed to its
	// last record, the new one is preallocated.
	for l.End().Segment == 1 {
		if _, err := l.Append(bytes.Repeat([]byte{'p'}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	sealed := fileBytes(t, seg1)
	if last := sealed[len(sealed)-1]; last != 'p' {
		t.Errorf("sealed segment ends in %q, want the last record's byte 'p' (no zero tail)", last)
	}
	seg2 := fileBytes(t, filepath.Join(dir, "00000002.wal"))
	if int64(len(seg2)) <= l.End().Offset || !allZero(seg2[l.End().Offset:]) {
		t.Errorf("new segment: %d bytes with records up to %d, want a zero tail", len(seg2), l.End().Offset)
	}

	// A log written with preallocation opens without it: the zero tail is
	// then removed as a torn tail, and no record is lost.
	before := l.End()
	l.Close()
	l = open(t, dir, wal.Options{SegmentSize: 64 << 10})
	if at, removed := l.TornTail(); at != before || removed != int64(len(seg2))-before.Offset {
		t.Errorf("TornTail without Preallocate: got (%v, %d), want (%v, %d)", at, removed, before, int64(len(seg2))-before.Offset)
	}
	all, _ := replay(t, l, wal.Position{})
	if len(all) < 11 || !slices.Equal(all[:10], records(span(0, 10)...)) {
		t.Errorf("Replay without Preallocate lost records: got %d", len(all))
	}
	l.Close()

	// A crash after the log moved on but before the sealed segment's
	// trimming was durable leaves it a zero tail: Open accepts it.
	f, err := os.OpenFile(seg1, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l = open(t, dir, opts)
	if got, _ := replay(t, l, wal.Position{}); !slices.Equal(got, all) {
		t.Errorf("Replay with a sealed segment's zero tail: got %d records, want %d", len(got), len(all))
	}
	l.Close()
	var ce *wal.CorruptionError
	if _, err := wal.Open(dir, wal.Options{SegmentSize: 64 << 10}); !errors.As(err, &ce) {
		t.Errorf("Open without Preallocate of a sealed segment with a zero tail: got %v, want a CorruptionError", err)
	}
}

// TestPreallocateTornTail damages the last record of a preallocated
// segment in place (the tail of zeros stays): Open removes that record and
// the tail as a torn tail, and later records follow the earlier ones.
func TestPreallocateTornTail(t *testing.T) {
	badCRC := append([]byte{5, 0, 0, 0, 1, 2, 3, 4}, "hello"...)
	tests := []struct {
		name    string
		garbage []byte // written over the start of the zero tail
		clean   bool   // the tail stays all zeros: not torn
	}{
		{"zeros", make([]byte, 100), true},
		{"partial header", []byte{9, 0, 0}, false},
		{"bad checksum", badCRC, false},
		{"huge length", []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 'a'}, false},
		{"a byte deep in the tail", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := wal.Options{SegmentSize: 64 << 10, Preallocate: true}
			l := open(t, dir, opts)
			appendEach(t, l, 0, 3)
			end := l.End()
			l.Close()
			seg := filepath.Join(dir, "00000001.wal")
			size := int64(len(fileBytes(t, seg)))
			f, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			at := end.Offset
			garbage := tt.garbage
			if garbage == nil {
				at, garbage = size-10, []byte{1}
			}
			if _, err := f.WriteAt(garbage, at); err != nil {
				t.Fatal(err)
			}
			f.Close()

			l = open(t, dir, opts)
			wantRemoved := size - end.Offset
			if tt.clean {
				wantRemoved = 0
			}
			if gotAt, removed := l.TornTail(); gotAt != end || removed != wantRemoved {
				t.Errorf("TornTail: got (%v, %d), want (%v, %d)", gotAt, removed, end, wantRemoved)
			}
			appendEach(t, l, 3, 2)
			if got, want := reopenAndReplay(t, l, dir), records(0, 1, 2, 3, 4); !slices.Equal(got, want) {
				t.Errorf("Replay: got %q, want %q", got, want)
			}
		})
	}
}

// BenchmarkSyncLatency measures one small commit (a 40 KB record, then
// Sync) with and without preallocation; on ext4 a Sync that need not
// commit a new file size is about twice as fast.
func BenchmarkSyncLatency(b *testing.B) {
	for _, prealloc := range []bool{false, true} {
		b.Run(fmt.Sprintf("preallocate=%v", prealloc), func(b *testing.B) {
			l, err := wal.Open(b.TempDir(), wal.Options{Preallocate: prealloc})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			payload := bytes.Repeat([]byte{'x'}, 40<<10)
			for b.Loop() {
				if _, err := l.Append(payload); err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
