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

// TestRowsSparse checks the cache admission of chunks that a Rows call
// reads only a few rows of (see Reader.worthCaching): the first such call
// decodes them without caching, the second caches them, the third finds
// them; a call that reads many rows of a chunk caches it at once. Rows
// returns the same data in every case.
func TestRowsSparse(t *testing.T) {
	rows := smallRows(1280)
	file, _ := writeRows(t, rows, 0, Options{ChunkRows: 128})
	cache := NewCache(1 << 30)
	r, err := OpenWith("sparse", bytes.NewReader(file), int64(len(file)), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
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
		return CacheStats{Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses, Entries: after.Entries - before.Entries}
	}
	sparse := []uint32{1279, 1100, 1000, 700, 500, 130, 5} // one row in each of 7 chunks
	for i, want := range []CacheStats{
		{Misses: 7},             // decoded, not cached
		{Misses: 7, Entries: 7}, // decoded again: now cached
		{Hits: 7},
	} {
		if got := read(sparse); got != want {
			t.Errorf("sparse read %d: got %+v, want %+v", i+1, got, want)
		}
	}
	dense := make([]uint32, 0, 64)
	for row := 256; row < 384; row += 2 { // half of chunk 2, not read yet
		dense = append(dense, uint32(row))
	}
	if got, want := read(dense), (CacheStats{Misses: 1, Entries: 1}); got != want {
		t.Errorf("dense read: got %+v, want %+v", got, want)
	}
	if got, want := read(dense[:1]), (CacheStats{Hits: 1}); got != want {
		t.Errorf("sparse read of a cached chunk: got %+v, want %+v", got, want)
	}
}

// TestCacheAdmitBound checks that the keys admit remembers stay bounded.
func TestCacheAdmitBound(t *testing.T) {
	c := NewCache(1 << 20)
	for i := range 10 * c.maxSeen {
		if c.admit(cacheKey{1, i}) {
			t.Fatalf("chunk %d admitted on first sight", i)
		}
		if len(c.seen) > c.maxSeen {
			t.Fatalf("after %d chunks: %d remembered, want at most %d", i+1, len(c.seen), c.maxSeen)
		}
	}
	k := cacheKey{2, 0}
	if c.admit(k) || !c.admit(k) || c.admit(k) {
		t.Error("a chunk asked about three times: want refused, admitted, refused")
	}
}
