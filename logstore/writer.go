package logstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/wal"
	"github.com/trail-audit/trail/merkle"
)

// appendReq is one Append call waiting for the writer.
type appendReq struct {
	events []prepared
	done   chan appendResp
}

type appendResp struct {
	res *trail.AppendResult
	err error
}

// prepared is an event made ready in the caller's goroutine: normalised,
// validated and encoded without its seq digits (see
// trail.Event.AppendCanonicalParts). When buf has room for the digits
// (cap(buf)-len(buf) >= maxSeqDigits), commit inserts them in place, so
// the leaf costs neither an allocation nor a second copy.
type prepared struct {
	ev    *trail.Event
	buf   []byte
	split int
	terms termList
	idh   uint64 // idHash(ev.ID)
}

// maxSeqDigits is the length of the largest seq in decimal.
const maxSeqDigits = 19

// leafArena hands out the buffers that one Append call encodes its events
// into: slices of a few shared slabs instead of one allocation per event.
// Each kept buffer is followed by maxSeqDigits spare bytes (see prepared).
type leafArena struct{ slab []byte }

// leafSlabMax bounds a slab; events are about 600 bytes.
const (
	leafSlabMax   = 256 << 10
	leafPerEvent  = 768
	leafMinRemain = 4 << 10
)

// next returns an empty buffer with spare capacity for the next event;
// remaining is the number of events still to encode, including this one.
func (a *leafArena) next(remaining int) []byte {
	want := min(leafSlabMax, remaining*leafPerEvent)
	if cap(a.slab)-len(a.slab) < min(want, leafMinRemain) {
		a.slab = make([]byte, 0, want)
	}
	return a.slab[len(a.slab):len(a.slab):cap(a.slab)]
}

// keep reserves buf, returned by AppendCanonicalParts on a buffer from
// next, and its spare digits. A buf that outgrew the slab was allocated by
// append and is returned as it is.
func (a *leafArena) keep(buf []byte) []byte {
	end := len(a.slab) + len(buf)
	if len(buf) == 0 || end+maxSeqDigits > cap(a.slab) || &a.slab[:end][len(a.slab)] != &buf[0] {
		return buf
	}
	buf = a.slab[len(a.slab) : end : end+maxSeqDigits]
	a.slab = a.slab[:end+maxSeqDigits]
	return buf
}

var errClosed = trail.Errorf(trail.EUNAVAILABLE, "store is closed")

// Append implements trail.Store.
func (s *Store) Append(ctx context.Context, events []*trail.Event) (*trail.AppendResult, error) {
	lim := s.opts.Limits
	if len(events) == 0 {
		return nil, trail.FieldError("events", "at least one event is required")
	}
	if len(events) > lim.MaxBatchEvents {
		return nil, &trail.Error{Code: trail.ETOOLARGE, Field: "events", Message: "at most " + strconv.Itoa(lim.MaxBatchEvents) + " events per batch"}
	}
	prep, err := s.prepare(events, s.opts.Now())
	if err != nil {
		return nil, err
	}
	req := &appendReq{events: prep, done: make(chan appendResp, 1)}
	if err := s.ensureTenants(events); err != nil {
		return nil, err
	}
	select {
	case s.reqs <- req:
	case <-s.quit:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued the commit is not abandoned: its outcome is reported
	// even if ctx ends meanwhile, so a caller never misses an ack.
	r := <-req.done
	return r.res, r.err
}

// prepare normalises, validates, encodes and indexes a batch in the
// caller's goroutine, at time now, within the store's limits. The first
// bad event fails the batch with an error naming it.
func (s *Store) prepare(events []*trail.Event, now time.Time) ([]prepared, error) {
	lim := s.opts.Limits
	out := make([]prepared, len(events))
	var leaves leafArena
	var terms termArena
	total := 0
	for i, e := range events {
		if e == nil {
			return nil, trail.FieldError("events["+strconv.Itoa(i)+"]", "null event")
		}
		if e.ID == "" {
			id, err := trail.NewUUIDv7(now, s.idReader())
			if err != nil {
				return nil, fmt.Errorf("logstore: new id: %w", err)
			}
			e.ID = id
		}
		e.Normalize(now, nil)
		if err := e.Validate(lim); err != nil {
			return nil, trail.AtIndex(err, "events", i)
		}
		buf, split, err := e.AppendCanonicalParts(leaves.next(len(events) - i))
		if err != nil {
			return nil, trail.FieldError("events["+strconv.Itoa(i)+"]", "%v", err)
		}
		if err := trail.CheckSize(buf, lim); err != nil {
			return nil, trail.AtIndex(err, "events", i)
		}
		total += len(buf)
		if total > lim.MaxBatchBytes {
			return nil, &trail.Error{Code: trail.ETOOLARGE, Field: "events", Message: "batch exceeds " + strconv.Itoa(lim.MaxBatchBytes) + " bytes"}
		}
		out[i] = prepared{ev: e, buf: leaves.keep(buf), split: split, terms: terms.of(e, len(events)-i), idh: idHash(e.ID)}
	}
	return out, nil
}

func (s *Store) idReader() *lockedReader { return &lockedReader{s: s} }

// lockedReader serialises reads of the injected randomness source.
type lockedReader struct{ s *Store }

func (l *lockedReader) Read(p []byte) (int, error) {
	l.s.idMu.Lock()
	defer l.s.idMu.Unlock()
	return l.s.idRand.Read(p)
}

// writeLoop is the single writer goroutine: it takes every waiting request
// and commits them together, handing each commit to the syncer goroutine
// it runs beside it (see commitJob).
func (s *Store) writeLoop() {
	defer close(s.done)
	syncq := make(chan *commitJob, 1)
	syncerDone := make(chan struct{})
	go s.syncLoop(syncq, syncerDone)
	defer func() {
		// The jobs handed over are finished before the store closes.
		close(syncq)
		<-syncerDone
	}()
	var batch []*appendReq
	for {
		select {
		case req := <-s.reqs:
			batch = append(batch[:0], req)
			n := len(req.events)
		drain:
			for n < maxCommitEvents {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					n += len(r.events)
				default:
					break drain
				}
			}
			s.commit(batch, syncq)
			clear(batch) // do not keep the requests alive until the next commit
		case <-s.quit:
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*appendReq{r}, syncq)
				default:
					return
				}
			}
		}
	}
}

// pendingTenant is one tenant's part of a commit being built.
type pendingTenant struct {
	t          *tenant
	first      int64
	events     int // in the commit's requests, duplicates included
	entries    []headEntry
	evs        []*trail.Event // the appended events of entries, in order
	integrated int            // entries already appended to the tree
	newIDs     map[string]int // id → index in entries; nil while there is at most one entry
	leafBytes  int64          // of entries, once published
	size       int64          // tree size and root after integration
	root       merkle.Hash
	cp         *trail.Checkpoint
}

// maxCommitEvents bounds the events the writer gathers into one commit.
const maxCommitEvents = 64 * 1024

// commitJob is one group commit on its way through the two stages of
// the write path. The writer goroutine sequences and integrates it and
// appends its WAL record; the syncer goroutine makes the record durable
// (signing the new checkpoints meanwhile), publishes the events and
// answers the requests. While the syncer waits on one job's fdatasync the
// writer prepares the next, so the device's latency and the CPU work
// overlap instead of adding up. The writer appends a job's record only
// once the job before it is durable, so at most one record is ever
// waiting for its sync, and jobs are published in log order.
type commitJob struct {
	reqs     []*appendReq
	pend     map[string]*pendingTenant
	active   []*pendingTenant // the tenants with new events, in order of their first
	receipts [][]trail.Receipt
	failed   []error // per request: why it failed whole (its tenant), or nil

	logged      bool         // a WAL record was appended for it
	recordStart wal.Position // where that record starts
	epoch       uint64       // the WAL's epoch when it was appended

	err       error         // set before synced is closed: the record is not durable
	synced    chan struct{} // closed once the record is durable or lost
	published chan struct{} // closed once the job is published (or failed) and answered
}

// errStorage is what every request of a commit that did not reach stable
// storage is told.
func errStorage(err error) error {
	return &trail.Error{Code: trail.EUNAVAILABLE, Message: "could not write events to stable storage; nothing was stored", Err: err}
}

// commit runs the writer's stage for a group of requests: it sequences
// them, integrates them into the trees, waits until the previous job is
// durable, appends the job's WAL record and hands the job to the syncer.
func (s *Store) commit(reqs []*appendReq, syncq chan<- *commitJob) {
	s.settleInflight()
	s.commitMu.Lock()
	broken := s.walBroken
	s.commitMu.Unlock()
	if broken != nil {
		for _, r := range reqs {
			r.done <- appendResp{err: &trail.Error{Code: trail.EUNAVAILABLE, Message: "storage failed; restart required", Err: broken}}
		}
		return
	}
	job := &commitJob{synced: make(chan struct{}), published: make(chan struct{})}
	err := s.integrate(s.sequence(job, reqs))
	if prev := s.lastInflight(); prev != nil {
		// Requests that arrive while the previous job syncs join this
		// one, prepared as they come: the job then holds as many events
		// as an unpipelined commit would, and so needs no more
		// checkpoint signatures per event.
		events := 0
		for _, r := range job.reqs {
			events += len(r.events)
		}
	wait:
		for err == nil && events < maxCommitEvents {
			select {
			case <-prev.synced:
				break wait
			case r := <-s.reqs:
				err = s.integrate(s.sequence(job, []*appendReq{r}))
				events += len(r.events)
			}
		}
		<-prev.synced
		if err == nil && prev.err != nil {
			// This job's seqs and tree nodes follow the lost record's.
			err = prev.err
		}
	}
	if err != nil {
		s.abandon(job, err)
		return
	}
	if len(job.active) > 0 {
		secs := make([]commitSection, 0, len(job.active))
		for _, pt := range job.active {
			leaves := make([][]byte, len(pt.entries))
			for j, e := range pt.entries {
				leaves[j] = e.leaf
			}
			secs = append(secs, commitSection{tenant: pt.t.name, firstSeq: pt.first, leaves: leaves})
		}
		s.commitMu.Lock()
		// The checkpoints published since the last record ride in this
		// one: their events are durable already, and a crash before
		// this record only loses those signatures, which recovery makes
		// again (Ed25519 signatures are deterministic). (pendingNotes is
		// guarded by commitMu: a flush logs them itself before it trims
		// the WAL.)
		payload := encodeCommit(s.payload[:0], append(append(make([]commitSection, 0, len(s.pendingNotes)+len(secs)), s.pendingNotes...), secs...))
		if cap(payload) <= maxKeptPayload {
			s.payload = payload // the WAL copied it: reuse it for the next commit
		}
		job.recordStart = s.wal.End()
		if _, err = s.wal.Append(payload); err == nil {
			job.logged = true
			job.epoch = s.wal.Epoch()
			s.pendingNotes = s.pendingNotes[:0]
			// Until it is published, a flush must not trim the WAL
			// past this record (see logCut).
			s.unpublished = append(s.unpublished, job.recordStart)
		} else if errors.Is(err, wal.ErrFailed) {
			s.walBroken = err
		}
		s.commitMu.Unlock()
		if err != nil {
			s.abandon(job, err)
			return
		}
	}
	s.inflight = append(s.inflight, job)
	syncq <- job
}

// sequence adds requests to a job: it assigns seqs to their new events,
// recognises duplicates (of stored events, of jobs in flight and within
// the job) and extends each tenant's entries. It may be called again for
// requests that arrive while the job waits for the previous one (see
// commit). It returns the tenants whose new entries integrate must add
// to their trees. Only the writer goroutine calls it.
func (s *Store) sequence(job *commitJob, reqs []*appendReq) (grown []*pendingTenant) {
	if job.pend == nil {
		job.pend = map[string]*pendingTenant{}
	}
	pend := job.pend
	for _, r := range reqs {
		job.reqs = append(job.reqs, r)
		var failed error
		// A request whose tenant cannot take events fails whole.
		for _, p := range r.events {
			t, err := s.tenantForWrite(p.ev.Tenant)
			if err != nil {
				failed = err
				break
			}
			if pend[t.name] == nil {
				pt := &pendingTenant{t: t, first: s.nextSeq(t)}
				pend[t.name] = pt
			}
			pend[t.name].events++
		}
		job.failed = append(job.failed, failed)
		if failed != nil {
			job.receipts = append(job.receipts, nil)
			continue
		}
		rec := make([]trail.Receipt, len(r.events))
		for i, p := range r.events {
			pt := pend[p.ev.Tenant]
			if j, ok := pt.indexOf(p.ev.ID); ok {
				rec[i] = trail.Receipt{ID: p.ev.ID, Seq: pt.first + int64(j), Tenant: pt.t.name, Duplicate: true}
				continue
			}
			if seq, hash, ok := s.inflightID(pt.t.name, p.ev.ID); ok {
				rec[i] = trail.Receipt{ID: p.ev.ID, Seq: seq, Tenant: pt.t.name, LeafHash: hash, Duplicate: true}
				continue
			}
			if seq, hash, ok := s.lookupID(pt.t, p.ev.ID, p.idh); ok {
				rec[i] = trail.Receipt{ID: p.ev.ID, Seq: seq, Tenant: pt.t.name, LeafHash: hash, Duplicate: true}
				continue
			}
			if pt.entries == nil {
				pt.entries = make([]headEntry, 0, pt.events)
				pt.evs = make([]*trail.Event, 0, pt.events)
				job.active = append(job.active, pt)
			}
			if pt.integrated == len(pt.entries) && !slices.Contains(grown, pt) {
				grown = append(grown, pt)
			}
			seq := pt.first + int64(len(pt.entries))
			p.ev.Seq = seq
			leaf := spliceSeq(p.buf, p.split, seq)
			pt.addID(p.ev.ID)
			pt.entries = append(pt.entries, headEntry{leaf: leaf, terms: p.terms, time: p.ev.Time.UnixNano(), recv: p.ev.ReceivedAt.UnixNano(), idh: p.idh})
			pt.evs = append(pt.evs, p.ev)
			rec[i] = trail.Receipt{ID: p.ev.ID, Seq: seq, Tenant: pt.t.name}
		}
		job.receipts = append(job.receipts, rec)
	}
	return grown
}

// indexOf returns the index in pt.entries of the event with the given id.
func (pt *pendingTenant) indexOf(id string) (int, bool) {
	if pt.newIDs != nil {
		j, ok := pt.newIDs[id]
		return j, ok
	}
	if len(pt.evs) == 1 && pt.evs[0].ID == id {
		return 0, true
	}
	return 0, false
}

// addID records the id of the entry about to be appended to pt.entries.
// A tenant's only entry needs no map (most tenants of a commit of single
// events have one).
func (pt *pendingTenant) addID(id string) {
	switch n := len(pt.entries); {
	case n == 0:
	case pt.newIDs == nil:
		pt.newIDs = make(map[string]int, max(pt.events, 2))
		pt.newIDs[pt.evs[0].ID] = 0
		pt.newIDs[id] = n
	default:
		pt.newIDs[id] = n
	}
}

// fillLeafHashes sets the leaf hashes integrate computed in a job's
// receipts.
func (job *commitJob) fillLeafHashes() {
	for ri, rec := range job.receipts {
		for i := range rec {
			if rec[i].Duplicate && rec[i].LeafHash != (trail.Hash{}) {
				continue
			}
			pt := job.pend[rec[i].Tenant]
			if j := rec[i].Seq - pt.first; j >= 0 && j < int64(len(pt.entries)) {
				job.receipts[ri][i].LeafHash = pt.entries[j].hash
			}
		}
	}
}

// nextSeq returns the seq a tenant's next event gets: after the events of
// the latest job in flight that has any, else after the published ones.
func (s *Store) nextSeq(t *tenant) int64 {
	for i := len(s.inflight) - 1; i >= 0; i-- {
		if pt := s.inflight[i].pend[t.name]; pt != nil && len(pt.entries) > 0 {
			return pt.first + int64(len(pt.entries))
		}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// inflightID finds an event by id among the new events of the jobs in
// flight: logged (or being logged) but perhaps not yet in the head.
func (s *Store) inflightID(tenant, id string) (seq int64, hash trail.Hash, ok bool) {
	for _, job := range s.inflight {
		pt := job.pend[tenant]
		if pt == nil || len(pt.entries) == 0 {
			continue
		}
		if j, found := pt.indexOf(id); found {
			return pt.first + int64(j), pt.entries[j].hash, true
		}
	}
	return 0, trail.Hash{}, false
}

// lastInflight returns the latest job handed to the syncer and not yet
// published, or nil.
func (s *Store) lastInflight() *commitJob {
	if len(s.inflight) == 0 {
		return nil
	}
	return s.inflight[len(s.inflight)-1]
}

// settleInflight forgets the jobs the syncer has finished. If one of them
// failed (only the last can: the writer logs no job after one that is
// not durable), it rebuilds the trees the job had grown; the syncer does
// not touch trees, the writer owns them.
func (s *Store) settleInflight() {
	n := 0
	lost := false
	for _, job := range s.inflight {
		if !isClosed(job.published) {
			break // jobs finish in order: the rest are still running
		}
		n++
		lost = lost || job.err != nil
	}
	if lost {
		s.rollbackJobs(s.inflight[:n])
	}
	rest := copy(s.inflight, s.inflight[n:])
	clear(s.inflight[rest:])
	s.inflight = s.inflight[:rest]
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// abandon fails a job that the writer could not log (or that followed a
// lost one): it waits until every earlier job is finished, so that the
// published heads are final, rebuilds the trees and answers every
// request.
func (s *Store) abandon(job *commitJob, err error) {
	s.log.Error("commit failed", "err", err)
	for _, prev := range s.inflight {
		<-prev.published
	}
	s.rollbackJobs(append(s.inflight, job))
	clear(s.inflight)
	s.inflight = s.inflight[:0]
	resp := errStorage(err)
	for _, r := range job.reqs {
		r.done <- appendResp{err: resp}
	}
}

// rollbackJobs rebuilds the trees of the tenants of finished jobs at least
// one of which failed, and of the failing job, from what is published.
func (s *Store) rollbackJobs(jobs []*commitJob) {
	done := map[*tenant]bool{}
	for _, job := range jobs {
		for _, pt := range job.active {
			if !done[pt.t] {
				done[pt.t] = true
				s.rollbackTree(pt.t)
			}
		}
	}
}

// syncLoop is the syncer goroutine: it finishes the jobs the writer
// logged, in order, until q is closed.
func (s *Store) syncLoop(q <-chan *commitJob, done chan<- struct{}) {
	defer close(done)
	for job := range q {
		s.finish(job)
	}
}

// finish runs the syncer's stage for a job: it syncs the job's record
// while signing the new checkpoints, then publishes the events to the
// heads and answers each request. A job that could not be made durable
// is answered with an error; the writer rebuilds the trees.
func (s *Store) finish(job *commitJob) {
	var err error
	if job.logged {
		signed := make(chan error, 1)
		go func() { signed <- s.signAll(job.active) }()
		err = s.wal.SyncEpoch(job.epoch)
		if serr := <-signed; err == nil {
			err = serr
		}
	}
	job.err = err
	close(job.synced)
	if err != nil {
		s.commitMu.Lock()
		if errors.Is(err, wal.ErrFailed) {
			// The WAL could not truncate the failed record away, so it
			// refuses every later call until reopened: say so to every
			// later caller instead of retrying a dead log.
			s.walBroken = err
		}
		s.dropUnpublished(job)
		s.commitMu.Unlock()
		s.log.Error("commit failed", "err", err)
		resp := errStorage(err)
		for _, r := range job.reqs {
			r.done <- appendResp{err: resp}
		}
		close(job.published)
		return
	}
	job.fillLeafHashes()
	active := job.active
	s.commitMu.Lock()
	// Publish: index each tenant's new entries in its head, in parallel
	// across tenants (each under its own lock), so that a commit of
	// several large batches does not index them one after another while
	// every caller waits.
	eachPending(active, func(pt *pendingTenant) error {
		t := pt.t
		t.mu.Lock()
		if t.head.entries.len() == 0 {
			t.headStart = job.recordStart
		}
		for j, e := range pt.entries {
			t.head.add(e, pt.evs[j].ID)
			pt.leafBytes += int64(len(e.leaf))
		}
		t.size = pt.first + int64(len(pt.entries))
		t.cp = pt.cp
		t.head.cp = pt.cp
		close(t.grown)
		t.grown = make(chan struct{})
		t.mu.Unlock()
		return nil
	})
	newTenants := false // a tenant got its first events
	for _, pt := range active {
		s.headBytes += pt.leafBytes
		newTenants = newTenants || pt.first == 0
		s.pendingNotes = append(s.pendingNotes, commitSection{tenant: pt.t.name, firstSeq: pt.cp.Size, note: pt.cp.Note})
	}
	s.dropUnpublished(job)
	flush := s.headBytes > s.opts.HeadBytes
	throttle := s.headBytes > headLimit*s.opts.HeadBytes
	s.commitMu.Unlock()
	if newTenants {
		// Waits for a tenant that did not exist (see Store.Wait).
		s.mu.Lock()
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
	}
	for ri, r := range job.reqs {
		if job.failed[ri] != nil {
			r.done <- appendResp{err: job.failed[ri]}
			continue
		}
		res := &trail.AppendResult{Receipts: job.receipts[ri], Checkpoints: map[string]*trail.Checkpoint{}}
		for _, rc := range job.receipts[ri] {
			if _, ok := res.Checkpoints[rc.Tenant]; !ok {
				pt := job.pend[rc.Tenant]
				cp := pt.cp
				if cp == nil { // only duplicates: the latest checkpoint covers them
					pt.t.mu.RLock()
					cp = pt.t.cp
					pt.t.mu.RUnlock()
				}
				res.Checkpoints[rc.Tenant] = cp
			}
		}
		r.done <- appendResp{res: res}
	}
	close(job.published)
	if flush {
		s.startFlush()
	}
	if throttle {
		// The heads outgrew the flush (it writes what was frozen while
		// new events pile up): hold the syncer, and so the writer and
		// every caller, until the running flush ends. Memory stays
		// bounded; a flush that fails is waited for once per commit,
		// never forever.
		s.awaitFlush()
	}
}

// dropUnpublished forgets a finished job's record in s.unpublished. Call
// with commitMu held.
func (s *Store) dropUnpublished(job *commitJob) {
	if !job.logged {
		return
	}
	for i, p := range s.unpublished {
		if p == job.recordStart {
			s.unpublished = slices.Delete(s.unpublished, i, i+1)
			return
		}
	}
}

// logCut returns where a flush freezing the heads now may trim the WAL
// up to: its end, or the start of the oldest record whose events are not
// published yet (they are in no head, so only the WAL holds them). Call
// with commitMu held.
func (s *Store) logCut() wal.Position {
	cut := s.wal.End()
	for _, p := range s.unpublished {
		if p.Compare(cut) < 0 {
			cut = p
		}
	}
	return cut
}

// spliceSeq returns the leaf of buf (from AppendCanonicalParts) with the
// digits of seq inserted at split: in place when buf has room for them
// (buf is then reused and must not be read again), else in a new slice.
func spliceSeq(buf []byte, split int, seq int64) []byte {
	var num [20]byte
	digits := strconv.AppendInt(num[:0], seq, 10)
	n := len(buf) + len(digits)
	if n > cap(buf) {
		leaf := make([]byte, 0, n)
		leaf = append(leaf, buf[:split]...)
		leaf = append(leaf, digits...)
		return append(leaf, buf[split:]...)
	}
	leaf := buf[:n:n]
	copy(leaf[split+len(digits):], buf[split:])
	copy(leaf[split:], digits)
	return leaf
}

// maxKeptPayload bounds the commit record buffer the writer keeps for
// the next commit.
const maxKeptPayload = 16 << 20

// headLimit is how many times HeadBytes the unflushed heads may hold
// before commits wait for the running flush.
const headLimit = 4

// awaitFlush waits for the running background flush, if any.
func (s *Store) awaitFlush() {
	s.closeMu.Lock()
	ch := s.flushing
	s.closeMu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-s.quit:
	}
}

func leafHash(leaf []byte) trail.Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out trail.Hash
	h.Sum(out[:0])
	return out
}

// integrate hashes each tenant's leaves not integrated yet and appends
// them to its tree, recording the new size and root for signing.
func (s *Store) integrate(pts []*pendingTenant) error {
	work := func(pt *pendingTenant) error {
		if pt.integrated == len(pt.entries) {
			return nil
		}
		hashes := make([]merkle.Hash, len(pt.entries)-pt.integrated)
		for j := pt.integrated; j < len(pt.entries); j++ {
			e := &pt.entries[j]
			e.hash = leafHash(e.leaf)
			// The caller's event gets what a read would return; the head
			// keeps only the entry.
			ev := pt.evs[j]
			ev.LeafHash = &e.hash
			ev.Leaf = e.leaf
			hashes[j-pt.integrated] = merkle.Hash(e.hash)
		}
		if err := pt.t.tree.Append(hashes...); err != nil {
			return fmt.Errorf("integrate %s: %w", pt.t.name, err)
		}
		pt.integrated = len(pt.entries)
		pt.size, pt.root = pt.t.tree.SizeRoot()
		return nil
	}
	return eachPending(pts, work)
}

// eachPending calls work for every tenant of a commit, from up to four
// goroutines when there are several, and joins the errors.
func eachPending(pts []*pendingTenant, work func(*pendingTenant) error) error {
	if len(pts) < 2 {
		for _, pt := range pts {
			if err := work(pt); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pts))
	const workers = 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(pts); i += workers {
				errs[i] = work(pts[i])
			}
		}(w)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// signAll signs a checkpoint of each tenant's integrated tree, in
// parallel.
func (s *Store) signAll(pts []*pendingTenant) error {
	work := func(pt *pendingTenant) error {
		cp, err := s.sign(pt.t.name, pt.size, pt.root)
		pt.cp = cp
		return err
	}
	return eachPending(pts, work)
}

// writePendingNotes makes the last commit's checkpoints durable. Call it
// with commitMu held, or after the writer stopped (Close).
func (s *Store) writePendingNotes() error {
	if len(s.pendingNotes) == 0 || s.walBroken != nil {
		return nil
	}
	if _, err := s.wal.Append(encodeCommit(nil, s.pendingNotes)); err != nil {
		return err
	}
	if err := s.wal.Sync(); err != nil {
		return err
	}
	s.pendingNotes = nil
	return nil
}

// rollbackTree rebuilds a tenant's tree from its persisted tiles and the
// published head after a commit that failed to reach stable storage.
func (s *Store) rollbackTree(t *tenant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tree, err := merkle.Open(t.persisted, t.tiles)
	if err == nil {
		for _, seg := range append(append([]*headSeg(nil), t.frozen...), t.head) {
			for i := range seg.entries.len() {
				e := seg.entries.at(i)
				if err = tree.Append(merkle.Hash(e.hash)); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		t.broken = &trail.TamperError{Tenant: t.name, Seq: -1, File: t.rel("tiles"), Reason: "cannot rebuild tree after a failed commit: " + err.Error()}
		return
	}
	t.tree = tree
}

// ensureTenants creates, in the caller's goroutine, the tenants of a
// validated batch that do not exist yet. Creating one makes directories
// (hundreds of µs of system time each on ext4); done by the writer, it
// would hold every other caller's commit meanwhile.
func (s *Store) ensureTenants(events []*trail.Event) error {
	last := ""
	for _, e := range events {
		if e.Tenant == last {
			continue
		}
		last = e.Tenant
		s.mu.RLock()
		t := s.tenants[last]
		s.mu.RUnlock()
		if t == nil {
			if _, err := s.tenantForWrite(last); err != nil {
				return err
			}
		}
	}
	return nil
}

// tenantForWrite returns the tenant, creating it on its first event. It
// is safe for concurrent use: one caller creates a tenant while the
// others wait for it.
func (s *Store) tenantForWrite(name string) (*tenant, error) {
	s.mu.RLock()
	t := s.tenants[name]
	s.mu.RUnlock()
	for t == nil {
		s.mu.Lock()
		if t = s.tenants[name]; t != nil {
			s.mu.Unlock()
			break
		}
		if wait, ok := s.creating[name]; ok {
			s.mu.Unlock()
			<-wait
			s.mu.RLock()
			t = s.tenants[name]
			s.mu.RUnlock()
			if t == nil {
				continue // its creator failed: try again
			}
			break
		}
		if s.creating == nil {
			s.creating = map[string]chan struct{}{}
		}
		done := make(chan struct{})
		s.creating[name] = done
		s.mu.Unlock()
		nt, err := s.newTenant(name)
		s.mu.Lock()
		delete(s.creating, name)
		if err == nil {
			s.tenants[name] = nt
		}
		s.mu.Unlock()
		close(done)
		if err != nil {
			return nil, &trail.Error{Code: trail.EUNAVAILABLE, Message: "cannot create tenant " + name, Err: err}
		}
		t = nt
	}
	if t.broken != nil {
		return nil, &trail.Error{Code: trail.EUNAVAILABLE, Message: trail.ErrorMessage(t.broken), Err: t.broken}
	}
	return t, nil
}

// lookupID finds an accepted event by id, whose idHash is h, in a tenant:
// head segments first, then blocks newest first.
func (s *Store) lookupID(t *tenant, id string, h uint64) (seq int64, hash trail.Hash, ok bool) {
	// Runs for every appended event: search the id tables under the read
	// lock, and acquire a block only for the rare rows whose id hashes
	// the same.
	type hit struct {
		b   *blockRef
		row uint32
	}
	var hits []hit
	t.mu.RLock()
	for i := 0; i <= len(t.frozen); i++ {
		seg := t.head
		if i < len(t.frozen) {
			seg = t.frozen[i]
		}
		if sq, found := seg.seqOf(id, h); found {
			e := seg.entries.at(int(sq - seg.first))
			t.mu.RUnlock()
			return sq, e.hash, true
		}
	}
	for i := len(t.blocks) - 1; i >= 0; i-- {
		b := t.blocks[i]
		for _, row := range b.rowsFor(h) {
			b.acquire()
			hits = append(hits, hit{b, row})
		}
	}
	tree := t.tree
	t.mu.RUnlock()
	defer func() {
		for _, x := range hits {
			x.b.release()
		}
	}()
	for _, x := range hits {
		data, err := x.b.r.Row(int(x.row))
		if err != nil {
			continue
		}
		ev, err := trail.DecodeEvent(data)
		if err != nil || ev.ID != id {
			continue
		}
		sq := x.b.first + int64(x.row)
		lh, err := tree.LeafHashAt(sq)
		if err != nil {
			continue
		}
		return sq, trail.Hash(lh), true
	}
	return 0, trail.Hash{}, false
}

// acquireBlocks returns the tenant's blocks, each acquired; call with t.mu held.
func (t *tenant) acquireBlocks() []*blockRef {
	bs := append([]*blockRef(nil), t.blocks...)
	for _, b := range bs {
		b.acquire()
	}
	return bs
}

func releaseBlocks(bs []*blockRef) {
	for _, b := range bs {
		b.release()
	}
}
