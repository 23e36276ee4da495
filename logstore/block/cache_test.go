package block

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	rows := smallRows(1000)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 64})
	cache := NewCache(1 << 30)
	open := func() *Reader {
		r, err := OpenWith("cached", bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r2 := open(), open()
	read := func(r *Reader, row int) {
		t.Helper()
		got, err := r.Row(row)
		if err != nil || !bytes.Equal(got, rows[row].data) {
			t.Fatalf("row %d: got %.30q, %v, want %.30q", row, got, err, rows[row].data)
		}
	}
	read(r1, 0)
	read(r1, 1)
	read(r2, 2) // same chunk, other reader: its own entry
	if got := cache.Stats(); got.Hits != 1 || got.Misses != 2 || got.Entries != 2 {
		t.Errorf("stats: got %+v, want 1 hit, 2 misses, 2 entries", got)
	}

	t.Run("eviction bound", func(t *testing.T) {
		// The size of one chunk decoded into fresh buffers: the least a
		// cached chunk can take (a pooled buffer may be larger, so the
		// size of an entry of cache would depend on the pool's state).
		var fresh decodedChunk
		if err := r1.decodeChunk(0, &fresh); err != nil {
			t.Fatal(err)
		}
		one := fresh.size()
		small := NewCache(3 * one)
		r, err := OpenWith("small", bytes.NewReader(file), int64(len(file)), Options{Cache: small})
		if err != nil {
			t.Fatal(err)
		}
		for row := 0; row < len(rows); row += 64 {
			if _, err := r.Row(row); err != nil {
				t.Fatal(err)
			}
			if s := small.Stats(); s.Bytes > 3*one {
				t.Fatalf("after row %d: %d bytes cached, want at most %d", row, s.Bytes, 3*one)
			}
		}
		s := small.Stats()
		if s.Entries > 3 || s.Evictions == 0 {
			t.Errorf("stats: got %+v, want at most 3 entries and some evictions", s)
		}
		// The least recently used chunk is gone, the most recent one is not.
		before := small.Stats()
		read(r, len(rows)-1)
		read(r, 0)
		after := small.Stats()
		if after.Hits-before.Hits != 1 || after.Misses-before.Misses != 1 {
			t.Errorf("last chunk then first: got %d hits, %d misses, want 1, 1", after.Hits-before.Hits, after.Misses-before.Misses)
		}
	})

	t.Run("too large", func(t *testing.T) {
		tiny := NewCache(10)
		r, err := OpenWith("tiny", bytes.NewReader(file), int64(len(file)), Options{Cache: tiny})
		if err != nil {
			t.Fatal(err)
		}
		read(r, 5)
		read(r, 5)
		if s := tiny.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Hits != 0 {
			t.Errorf("stats: got %+v, want nothing cached", s)
		}
	})

	t.Run("dropped reader", func(t *testing.T) {
		c := NewCache(1 << 30)
		func() {
			r, err := OpenWith("dropped", bytes.NewReader(file), int64(len(file)), Options{Cache: c})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Row(7); err != nil {
				t.Fatal(err)
			}
		}()
		for i := 0; i < 20 && c.Stats().Entries > 0; i++ {
			runtime.GC()
			runtime.Gosched()
		}
		if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
			t.Errorf("after the reader is collected: got %+v, want empty", s)
		}
	})
}

// TestCacheConcurrent reads random rows of several readers sharing a small
// cache from many goroutines (run it with -race).
func TestCacheConcurrent(t *testing.T) {
	rows := smallRows(2000)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 32})
	cache := NewCache(64 << 10)
	var readers []*Reader
	for i := 0; i < 3; i++ {
		r, err := OpenWith(fmt.Sprint(i), bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; i < 300; i++ {
				r := readers[rng.IntN(len(readers))]
				if i%3 == 0 {
					set := randomRows(rng, len(rows), 20)
					err := r.Rows(set, func(row int, data []byte) error {
						if !bytes.Equal(data, rows[row].data) {
							return fmt.Errorf("Rows: row %d differs", row)
						}
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
					continue
				}
				row := rng.IntN(len(rows))
				got, err := r.Row(row)
				if err != nil || !bytes.Equal(got, rows[row].data) {
					errs <- fmt.Errorf("row %d: got %.30q, %v", row, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := cache.Stats(); s.Bytes > 64<<10 || s.Hits == 0 || s.Misses == 0 {
		t.Errorf("stats: got %+v, want hits, misses and at most %d bytes", s, 64<<10)
	}
}

func randomRows(rng *rand.Rand, n, k int) []uint32 {
	set := make([]uint32, k)
	for i := range set {
		set[i] = uint32(rng.IntN(n))
	}
	return set
}

// TestRows checks that Rows calls fn with what Row returns, in the order
// given, for random row sets: sorted, unsorted and with repeats.
func TestRows(t *testing.T) {
	rows := smallRows(1500)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 50})
	for _, cache := range []*Cache{nil, NewCache(1 << 20)} {
		r, err := OpenWith("rows", bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for trial := 0; trial < 50; trial++ {
			set := randomRows(rng, len(rows), rng.IntN(200))
			if trial%2 == 0 {
				slices.Sort(set)
			}
			i := 0
			err := r.Rows(set, func(row int, data []byte) error {
				if row != int(set[i]) {
					return fmt.Errorf("call %d: got row %d, want %d", i, row, set[i])
				}
				want, err := r.Row(row)
				if err != nil {
					return err
				}
				if (data == nil) != (want == nil) || !bytes.Equal(data, want) {
					return fmt.Errorf("row %d: got %.30q, want %.30q", row, data, want)
				}
				i++
				return nil
			})
			if err == nil && i != len(set) {
				err = fmt.Errorf("got %d calls, want %d", i, len(set))
			}
			if err != nil {
				t.Fatalf("trial %d (cache %v): %v", trial, cache != nil, err)
			}
		}
		if err := r.Rows([]uint32{1, uint32(len(rows))}, func(int, []byte) error { t.Fatal("fn called"); return nil }); err == nil {
			t.Error("Rows with a row out of range: got no error")
		}
		stop := fmt.Errorf("stop")
		if err := r.Rows([]uint32{0, 1, 2}, func(int, []byte) error { return stop }); err != stop {
			t.Errorf("Rows when fn fails: got %v, want %v", err, stop)
		}
	}
}

func TestLevels(t *testing.T) {
	rows := smallRows(600)
	for _, level := range []int{0, LevelFastest, LevelFast, LevelBetter, LevelBest, 2, 22, -1} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			b, m := writeRows(t, rows, 42, Options{Level: level})
			r := openBytes(t, "level", b)
			if got := r.Meta(); got != m {
				t.Errorf("meta: got %+v, want %+v", got, m)
			}
			checkBlock(t, r, rows, 42)
		})
	}
}

// TestRowsPrefetchReleases stops Rows at every point of a read over many
// chunks (so its prefetching workers are at work or have acquired chunks
// ahead) and checks that no chunk stays referenced in the cache.
func TestRowsPrefetchReleases(t *testing.T) {
	rows := smallRows(3000)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 20})
	cache := NewCache(1 << 30)
	r, err := OpenWith("prefetch", bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	set := make([]uint32, 0, 150)
	for row := len(rows) - 1; row >= 0 && len(set) < cap(set); row -= 20 { // one row per chunk, newest first
		set = append(set, uint32(row))
	}
	stop := fmt.Errorf("stop")
	for n := 1; n <= len(set); n += 7 {
		calls := 0
		err := r.Rows(set, func(row int, data []byte) error {
			if !bytes.Equal(data, rows[row].data) {
				return fmt.Errorf("row %d differs", row)
			}
			if calls++; calls == n {
				return stop
			}
			return nil
		})
		if err != stop && !(err == nil && n > len(set)) {
			t.Fatalf("stopping after %d rows: got %v", n, err)
		}
		cache.mu.Lock()
		for k, e := range cache.entries {
			if e.c.refs != 0 {
				t.Errorf("stopping after %d rows: chunk %d still has %d references", n, k.chunk, e.c.refs)
			}
		}
		cache.mu.Unlock()
	}
}

// TestRowsSparse checks how the cache keeps chunks that a Rows call reads
// only a few rows of (see Reader.worthCaching): the first such call caches
// only the rows it read, a call for the same rows finds them, a call for
// other rows of those chunks caches them whole; a call that reads many
// rows of a chunk caches it whole at once. Rows returns the same data in
// every case.
func TestRowsSparse(t *testing.T) {
	rows := smallRows(1280)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 128})
	cache := NewCache(1 << 30)
	r, err := OpenWith("sparse", bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	whole := cache.Stats().Bytes
	if _, err := r.Row(0); err != nil { // chunk 0, whole
		t.Fatal(err)
	}
	whole = cache.Stats().Bytes - whole
	read := func(set []uint32) CacheStats {
		t.Helper()
		before := cache.Stats()
		err := r.Rows(set, func(row int, data []byte) error {
			if !bytes.Equal(data, rows[row].data) {
				return fmt.Errorf("row %d: got %.30q, want %.30q", row, data, rows[row].data)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		after := cache.Stats()
		return CacheStats{Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses,
			Entries: after.Entries - before.Entries, Bytes: after.Bytes - before.Bytes}
	}
	// Live rows of chunks 9, 8, 7, 5, 3 and 1: one or two of each (sparse),
	// then another of each (other).
	var sparse, other []uint32
	for _, start := range []int{1279, 1100, 1000, 700, 500, 150} {
		var live []uint32
		for row := start; len(live) < 3; row-- {
			if !r.IsErased(row) {
				live = append(live, uint32(row))
			}
		}
		sparse = append(sparse, live[0])
		if start == 150 {
			sparse = append(sparse, live[1])
		}
		other = append(other, live[2])
	}
	sparse = append(sparse, sparse[0]) // a repeat
	got := read(sparse)
	if got.Misses != 6 || got.Hits != 0 || got.Entries != 6 || got.Bytes >= whole {
		t.Errorf("first sparse read: got %+v, want 6 misses and 6 entries of less than %d bytes in all", got, whole)
	}
	if got, want := read(sparse), (CacheStats{Hits: 6}); got != want {
		t.Errorf("same rows again: got %+v, want %+v", got, want)
	}
	got = read(other)
	if got.Misses != 6 || got.Hits != 0 || got.Entries != 0 || got.Bytes < 5*whole {
		t.Errorf("other rows: got %+v, want 6 misses, the 6 entries now whole chunks", got)
	}
	if got, want := read(append(other, sparse...)), (CacheStats{Hits: 6}); got != want {
		t.Errorf("all of those rows: got %+v, want %+v", got, want)
	}
	dense := make([]uint32, 0, 64)
	for row := 256; row < 384; row += 2 { // half of chunk 2, not read yet
		dense = append(dense, uint32(row))
	}
	if got, want := read(dense), (CacheStats{Misses: 1, Entries: 1}); got.Misses != want.Misses || got.Entries != want.Entries {
		t.Errorf("dense read: got %+v, want %+v", got, want)
	}
	if got, want := read(dense[:1]), (CacheStats{Hits: 1}); got != want {
		t.Errorf("sparse read of a whole cached chunk: got %+v, want %+v", got, want)
	}
	if got, err := r.Row(1279); err != nil || !bytes.Equal(got, rows[1279].data) {
		t.Errorf("Row of a partly cached chunk: got %.30q, %v", got, err)
	}
}

// TestPartialChunk checks decodedChunk.partial and holds, with repeated
// and erased rows.
func TestPartialChunk(t *testing.T) {
	c := &decodedChunk{data: []byte("aabbbcdddd"), start: []uint32{0, 2, 5, 5, 6, 10}, gone: []bool{false, false, true, false, false}}
	p := c.partial([]int{1, 1, 2, 4})
	for j, want := range []string{"", "bbb", "", "", "dddd"} {
		if got := string(p.data[p.start[j]:p.start[j+1]]); got != want {
			t.Errorf("row %d: got %q, want %q", j, got, want)
		}
	}
	if !slices.Equal(p.gone, c.gone) {
		t.Errorf("gone: got %v, want %v", p.gone, c.gone)
	}
	for _, tc := range []struct {
		want []int
		ok   bool
	}{{[]int{1}, true}, {[]int{1, 2, 4}, true}, {[]int{0, 1}, false}, {[]int{3}, false}, {nil, false}} {
		if got := p.holds(tc.want); got != tc.ok {
			t.Errorf("holds(%v): got %v, want %v", tc.want, got, tc.ok)
		}
	}
	if !c.holds(nil) || !c.holds([]int{3}) {
		t.Error("a whole chunk: want it to hold every row")
	}
}
