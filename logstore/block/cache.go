package block

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// Cache is a size-bounded cache of decompressed chunks that many Readers
// share (Options.Cache). When its entries hold more than its byte budget it
// evicts the least recently used ones. Entries are keyed by a number unique
// to each Reader and the chunk index, never by the Reader itself: the
// entries of a Reader that is dropped are removed when the garbage
// collector finds it unreachable, and meanwhile age out like any other.
// A chunk in use by a reading call stays valid after eviction until the
// call returns. A Cache is safe for concurrent use.
type Cache struct {
	mu         sync.Mutex
	maxBytes   int64
	maxEntries int // 0: no limit
	bytes      int64
	entries    map[cacheKey]*cacheEntry
	head       cacheEntry      // sentinel of the LRU list: head.next is the most recent
	spare      []*decodedChunk // scratch chunks to reuse, at most maxSpare
	hits       uint64
	misses     uint64
	evictions  uint64
}

type cacheKey struct {
	reader uint64
	chunk  int
}

type cacheEntry struct {
	key        cacheKey
	c          *decodedChunk
	size       int64
	prev, next *cacheEntry
}

// CacheStats counts a Cache's lookups and describes its contents.
type CacheStats struct {
	Hits, Misses, Evictions uint64
	Entries                 int
	Bytes                   int64
}

// NewCache returns a Cache that holds at most maxBytes of decompressed
// chunks (their payload and row tables). A chunk larger than maxBytes is
// not cached.
func NewCache(maxBytes int64) *Cache {
	return newCache(max(maxBytes, 0), 0)
}

func newCache(maxBytes int64, maxEntries int) *Cache {
	c := &Cache{maxBytes: maxBytes, maxEntries: maxEntries, entries: make(map[cacheKey]*cacheEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// privateCacheChunks is the number of chunks a Reader opened without a
// Cache keeps.
const privateCacheChunks = 4

// newPrivateCache returns the cache of a Reader opened without one: its
// last few chunks, whatever their size.
func newPrivateCache() *Cache { return newCache(math.MaxInt64, privateCacheChunks) }

// Stats returns the Cache's counters and size.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Evictions: c.evictions, Entries: len(c.entries), Bytes: c.bytes}
}

// readerIDs numbers Readers for cache keys.
var readerIDs atomic.Uint64

// get returns the chunk under k with a reference taken when it holds rows
// want (all rows when want is nil, see decodedChunk.holds), else nil and
// whether a partial chunk lacking some of them is cached under k.
func (c *Cache) get(k cacheKey, want []int) (d *decodedChunk, partial bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || !e.c.holds(want) {
		c.misses++
		return nil, e != nil
	}
	c.hits++
	c.unlink(e)
	c.pushFront(e)
	e.c.refs++
	return e.c, false
}

// has reports whether k is cached with rows want (all rows when want is
// nil), without taking a reference: by the time the caller acts on the
// answer it may be stale.
func (c *Cache) has(k cacheKey, want []int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	return e != nil && e.c.holds(want)
}

// put caches d (referenced once, by the caller) under k and returns the
// chunk to use: d, or the one another reader put there first, with a
// reference taken.
func (c *Cache) put(k cacheKey, d *decodedChunk) *decodedChunk {
	size := d.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil && e.c.held != nil && d.held == nil {
		c.evict(e) // a whole chunk replaces a partial one
		c.evictions--
	} else if e != nil {
		d.evicted = true
		d.refs--
		c.recycle(d)
		e.c.refs++
		return e.c
	}
	if size > c.maxBytes {
		d.evicted = true // not cached: recycled on release
		return d
	}
	e := &cacheEntry{key: k, c: d, size: size}
	c.entries[k] = e
	c.pushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes || (c.maxEntries > 0 && len(c.entries) > c.maxEntries) {
		c.evict(c.head.prev)
	}
	return d
}

// release drops a reference taken by get or put.
func (c *Cache) release(d *decodedChunk) {
	c.mu.Lock()
	d.refs--
	c.recycle(d)
	c.mu.Unlock()
}

// dropReader removes the entries of chunks [0, chunks) of reader id.
func (c *Cache) dropReader(id uint64, chunks int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return
	}
	for ci := 0; ci < chunks; ci++ {
		if e := c.entries[cacheKey{id, ci}]; e != nil {
			c.evict(e)
			c.evictions--
		}
	}
}

func (c *Cache) evict(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
	c.bytes -= e.size
	c.evictions++
	e.c.evicted = true
	c.recycle(e.c)
}

func (c *Cache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.head, c.head.next
	e.prev.next, e.next.prev = e, e
}

// size estimates the memory a decoded chunk holds.
func (d *decodedChunk) size() int64 {
	return int64(cap(d.data)+4*cap(d.start)+cap(d.gone)+cap(d.held)) + 128
}

// recycle returns d's buffers, once it is evicted and no reading call
// holds it, to the spare scratch chunks when it is one and there is room,
// else to chunkPool. The caller holds the cache's lock.
func (c *Cache) recycle(d *decodedChunk) {
	switch {
	case !d.evicted || d.refs > 0:
	case d.scratch:
		if len(c.spare) < maxSpare {
			c.spare = append(c.spare, d)
		}
	case d.held != nil: // partial: left to the garbage collector
	default:
		chunkPool.Put(d)
	}
}

// maxSpare bounds the spare scratch chunks of a Cache: enough for a few
// reads at once, each with its prefetching workers (prefetchWorkers).
const maxSpare = 16

// scratch returns a chunk to decode into for one reading call, never
// cached: a spare one, else a new one. The caller gives it back with
// release once it is marked evicted with one reference, or with
// putScratch. Spare chunks are kept by the Cache, not in a sync.Pool,
// whose contents every garbage collection drops: the runtime then returns
// their pages to the operating system, and faulting them in again cost a
// fresh process more than decompressing (docs/design/logstore-bench.md,
// stop 16).
func (c *Cache) scratch() *decodedChunk {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.spare); n > 0 {
		d := c.spare[n-1]
		c.spare[n-1] = nil
		c.spare = c.spare[:n-1]
		return d
	}
	return &decodedChunk{scratch: true}
}

// putScratch gives back a chunk from scratch that holds no reference.
func (c *Cache) putScratch(d *decodedChunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.refs, d.evicted = 0, true
	c.recycle(d)
}

// watch arranges for r's entries to leave the cache once r is unreachable.
func (c *Cache) watch(r *Reader) {
	runtime.AddCleanup(r, func(k cacheKey) { c.dropReader(k.reader, k.chunk) }, cacheKey{r.id, len(r.chunks)})
}
