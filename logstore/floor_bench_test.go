package logstore

import (
	"bytes"
	"crypto/rand"
	"hash/crc32"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/merkle"
)

// BenchmarkWriteFloor is the CPU floor of the write path: the work that
// issue 2 asks of every durable batched event, done once, in one
// goroutine, on warm data, with no file I/O, no locks, no channels and
// no other goroutine. Per batch of 1000 events of one tenant, as in
// BenchmarkAppendBatch: each event validated and encoded as its canonical
// leaf with the store's arenas, its index terms computed, its seq spliced
// in, its leaf hashed; the batch's hashes appended to the tenant's Merkle
// tree and its checkpoint signed; the commit record framed as the WAL
// frames it (payload and CRC-32C); every entry indexed in a head segment.
// Every 10 batches the head is written as a block, as a flush does
// (chunks compressed at the level given, postings, index). The events
// are a pool of 1000 reused round after round, so they stay in cache
// (the real benchmarks read events that are cold).
//
// What it answers: whether a rate is within reach at all. Two cores give
// 2e6 / floor µs events per second if both were busy with nothing else;
// the store also pays system calls, fdatasync, page faults, garbage
// collection, scheduling and cache misses on top (docs/design/
// logstore-bench.md, "Stop 23").
func BenchmarkWriteFloor(b *testing.B) {
	for _, c := range []struct {
		name  string
		level int
	}{{"default", 0}, {"fastest", block.LevelFastest}} {
		b.Run(c.name, func(b *testing.B) { benchWriteFloor(b, c.level) })
	}
}

func benchWriteFloor(b *testing.B, level int) {
	const batchSize, batchesPerBlock = 1000, 10
	signer, _ := internalKeys(b)
	now := time.Now()
	g := gen.New(1, 1)
	tenant := g.Tenant()
	pool := make([]*trail.Event, batchSize)
	for i := range pool {
		pool[i] = g.Event(tenant, g.TimeIn(now.Add(-time.Hour), now))
	}
	tree, err := merkle.Open(0, nil)
	if err != nil {
		b.Fatal(err)
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var (
		payload []byte
		blk     bytes.Buffer
		seq     int64
		blockN  int
	)
	seg := newHeadSeg(0, nil)
	entries := make([]headEntry, 0, batchSize)
	leaves := make([][]byte, 0, batchSize)
	hashes := make([]merkle.Hash, 0, batchSize)
	cpu0 := floorCPU(b)
	b.ResetTimer()
	var crc uint32
	for done := 0; done < b.N; done += batchSize {
		batch := pool[:min(batchSize, b.N-done)]
		// Prepare, as Append does on the caller's goroutine.
		var la leafArena
		var ta termArena
		entries, leaves, hashes = entries[:0], leaves[:0], hashes[:0]
		for i, e := range batch {
			e.Seq, e.ReceivedAt = 0, time.Time{}
			id, err := trail.NewUUIDv7(now, rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			e.ID = id
			e.Normalize(now, nil)
			buf, split, err := e.AppendValidCanonicalParts(la.next(len(batch)-i), trail.DefaultLimits)
			if err != nil {
				b.Fatal(err)
			}
			buf = la.keep(buf)
			terms := ta.of(e, len(batch)-i)
			// Commit: sequence, hash.
			leaf := spliceSeq(buf, split, seq+int64(i))
			h := leafHash(leaf)
			entries = append(entries, headEntry{leaf: leaf, terms: terms, hash: h, time: e.Time.UnixNano(), recv: e.ReceivedAt.UnixNano(), idh: idHash(e.ID)})
			leaves = append(leaves, leaf)
			hashes = append(hashes, merkle.Hash(h))
		}
		if err := tree.Append(hashes...); err != nil {
			b.Fatal(err)
		}
		size, root := tree.SizeRoot()
		if _, err := checkpoint.SignAll([]checkpoint.Checkpoint{{Origin: "trail.test/" + tenant, Size: size, Root: root}}, signer); err != nil {
			b.Fatal(err)
		}
		payload = encodeCommit(payload[:0], []commitSection{{tenant: tenant, firstSeq: seq, leaves: leaves}})
		crc ^= crc32.Checksum(payload, castagnoli)
		// Publish: index in the head.
		for i := range entries {
			seg.add(entries[i], batch[i].ID)
		}
		seq += int64(len(batch))
		// Flush: the head as a block.
		if blockN++; blockN%batchesPerBlock == 0 {
			writeFloorBlock(b, &blk, tenant, seg, level)
			seg = newHeadSeg(seq, seg)
		}
	}
	if seg.entries.len() > 0 { // the last flush
		writeFloorBlock(b, &blk, tenant, seg, level)
	}
	b.StopTimer()
	cpu := floorCPU(b) - cpu0
	runtime.KeepAlive(crc)
	floor := float64(cpu.Nanoseconds()) / 1e3 / float64(b.N)
	b.ReportMetric(floor, "cpu-µs/event")
	b.ReportMetric(2e6/floor, "events/s-on-2-cores")
}

// writeFloorBlock writes seg as writeBlock does from a frozen head.
func writeFloorBlock(b *testing.B, buf *bytes.Buffer, tenant string, seg *headSeg, level int) {
	buf.Reset()
	w := block.NewWriter(buf, tenant, seg.first, block.Options{Level: level})
	for i := 0; i < seg.entries.len(); i++ {
		r := headRow(seg.entries.at(i))
		err := w.Add(r.data, r.time, func(add func(field, key string)) {
			skip := false
			for it := r.terms.iter(); it.next(); {
				if it.newField {
					skip = headIndexed(it.field)
				}
				if !skip {
					add(it.field, it.key)
				}
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := seg.postings(w.AddPostings); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// floorCPU returns the user and system CPU time of the process so far
// (the garbage collector's included).
func floorCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
