package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"golang.org/x/mod/sumdb/note"
)

// memStore is a deliberately simple in-memory trail.Store, written from
// the contract alone, so that the suite can check itself: Run must pass
// against it. It recomputes trees from scratch and scans for every query.
type memStore struct {
	d      *memData
	now    func() time.Time
	closed bool
}

type memData struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
	logs    map[string]*memLog
	signer  note.Signer
	origin  func(string) string
}

type memLog struct {
	leaves []trail.Hash
	data   [][]byte // nil when erased
	ids    []string
	recv   []time.Time
	byID   map[string]int64
	events []*trail.Event // decoded data, nil when erased
	cp     *trail.Checkpoint
}

var _ trail.Store = (*memStore)(nil)

func (s *memStore) log(tenant string) (*memLog, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	l := s.d.logs[tenant]
	if l == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %s not found", tenant)
	}
	return l, nil
}

func (s *memStore) Append(ctx context.Context, events []*trail.Event) (*trail.AppendResult, error) {
	now := s.now()
	leaves := make([][]byte, len(events))
	for i, e := range events {
		e.Normalize(now, func() string { id, _ := trail.NewUUIDv7(now, rand.Reader); return id })
		if err := e.Validate(trail.Limits{}); err != nil {
			var te *trail.Error
			errors.As(err, &te)
			return nil, te.WithIndex("events", i)
		}
		b, err := e.AppendCanonical(nil)
		if err != nil {
			return nil, trail.FieldError("", "%v", err).WithIndex("events", i)
		}
		if err := trail.CheckSize(b, trail.Limits{}); err != nil {
			return nil, err.(*trail.Error).WithIndex("events", i)
		}
		leaves[i] = b
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.closed {
		return nil, errors.New("closed")
	}
	res := &trail.AppendResult{Receipts: make([]trail.Receipt, len(events)), Checkpoints: map[string]*trail.Checkpoint{}}
	for i, e := range events {
		l := s.d.logs[e.Tenant]
		if l == nil {
			l = &memLog{byID: map[string]int64{}}
			s.d.logs[e.Tenant] = l
		}
		if seq, ok := l.byID[e.ID]; ok {
			res.Receipts[i] = trail.Receipt{ID: e.ID, Seq: seq, Tenant: e.Tenant, LeafHash: l.leaves[seq], Duplicate: true}
			continue
		}
		e.Seq = int64(len(l.leaves))
		leaf, _ := e.AppendCanonical(nil)
		h := trail.Hash(leafHash(leaf))
		l.leaves = append(l.leaves, h)
		l.data = append(l.data, leaf)
		dec, err := trail.DecodeEvent(leaf)
		if err != nil {
			panic(err)
		}
		l.events = append(l.events, dec)
		l.ids = append(l.ids, e.ID)
		l.recv = append(l.recv, e.ReceivedAt)
		l.byID[e.ID] = e.Seq
		res.Receipts[i] = trail.Receipt{ID: e.ID, Seq: e.Seq, Tenant: e.Tenant, LeafHash: h}
		res.Checkpoints[e.Tenant] = nil
	}
	for tenant := range res.Checkpoints {
		l := s.d.logs[tenant]
		l.cp = s.sign(tenant, l.leaves)
		res.Checkpoints[tenant] = l.cp
	}
	close(s.d.changed)
	s.d.changed = make(chan struct{})
	return res, nil
}

func (s *memStore) sign(tenant string, leaves []trail.Hash) *trail.Checkpoint {
	root := treeRoot(leaves)
	origin := s.d.origin(tenant)
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, len(leaves), base64.StdEncoding.EncodeToString(root[:]))
	msg, err := note.Sign(&note.Note{Text: text}, s.d.signer)
	if err != nil {
		panic(err)
	}
	return &trail.Checkpoint{Origin: origin, Size: int64(len(leaves)), Root: root, Note: msg}
}

func (s *memStore) event(l *memLog, tenant string, seq int64) *trail.Event {
	h := l.leaves[seq]
	if l.data[seq] == nil {
		return &trail.Event{ID: l.ids[seq], Seq: seq, Tenant: tenant, ReceivedAt: l.recv[seq], Erased: true, LeafHash: &h}
	}
	e := *l.events[seq]
	e.LeafHash = &h
	return &e
}

func (s *memStore) Get(ctx context.Context, tenant, id string) (*trail.Event, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	seq, ok := l.byID[id]
	if !ok {
		return nil, trail.Errorf(trail.ENOTFOUND, "event %s not found", id)
	}
	return s.event(l, tenant, seq), nil
}

// scan calls fn with every matching, non-erased event of q in q's order
// after the cursor until fn returns false.
func (s *memStore) scan(q *trail.Query, stubs bool, fn func(*trail.Event) bool) error {
	after, hasCursor, err := q.Normalize()
	if err != nil {
		return err
	}
	m, err := q.Filter.Compile()
	if err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(q.Tenant)
	if err != nil {
		return err
	}
	n := int64(len(l.leaves))
	seq, step := int64(0), int64(1)
	if q.Order == trail.OrderDesc {
		seq, step = n-1, -1
	}
	if hasCursor {
		seq = after + step
	}
	for ; seq >= 0 && seq < n; seq += step {
		if l.data[seq] == nil {
			if stubs && q.Filter == nil && inRange(l.recv[seq], q.From, q.To) && !fn(s.event(l, q.Tenant, seq)) {
				break
			}
			continue
		}
		e := s.event(l, q.Tenant, seq)
		if inRange(e.Time, q.From, q.To) && m(e) && !fn(e) {
			break
		}
	}
	return nil
}

func (s *memStore) Query(ctx context.Context, q *trail.Query) (*trail.Page, error) {
	p := &trail.Page{Events: []*trail.Event{}}
	err := s.scan(q, true, func(e *trail.Event) bool {
		p.Events = append(p.Events, e)
		return len(p.Events) < q.Limit
	})
	if err != nil {
		return nil, err
	}
	if len(p.Events) == q.Limit {
		p.NextCursor = trail.EncodeCursor(p.Events[len(p.Events)-1].Seq, q.Order)
	}
	return p, nil
}

func (s *memStore) Stats(ctx context.Context, q *trail.StatsQuery) (*trail.Stats, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	qq := q.Query
	qq.Cursor = ""
	c := trail.NewStatsCounter(q)
	var addErr error
	err := s.scan(&qq, false, func(e *trail.Event) bool {
		addErr = c.Add(e)
		return addErr == nil
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		return nil, err
	}
	return c.Result(), nil
}

func (s *memStore) Read(ctx context.Context, tenant string, from int64, limit int) ([]trail.Record, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	var out []trail.Record
	for seq := from; seq < int64(len(l.leaves)) && len(out) < limit; seq++ {
		r := trail.Record{Tenant: tenant, Seq: seq, LeafHash: l.leaves[seq], Data: l.data[seq]}
		if r.Data == nil {
			r.ID, r.ReceivedAt = l.ids[seq], l.recv[seq]
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *memStore) Wait(ctx context.Context, tenant string, size int64) (int64, error) {
	for {
		s.d.mu.Lock()
		var n int64
		if l := s.d.logs[tenant]; l != nil {
			n = int64(len(l.leaves))
		}
		ch := s.d.changed
		s.d.mu.Unlock()
		if n > size {
			return n, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

func (s *memStore) Tenants(ctx context.Context) ([]trail.Tenant, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	var out []trail.Tenant
	for name, l := range s.d.logs {
		out = append(out, trail.Tenant{Name: name, Size: int64(len(l.leaves))})
	}
	slices.SortFunc(out, func(a, b trail.Tenant) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *memStore) Checkpoint(ctx context.Context, tenant string) (*trail.Checkpoint, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	return l.cp, nil
}

func (s *memStore) InclusionProof(ctx context.Context, tenant string, seq, size int64) (*trail.InclusionProof, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = l.cp.Size
	}
	if size > l.cp.Size {
		return nil, trail.FieldError("size", "beyond the log")
	}
	if seq < 0 || seq >= size {
		return nil, trail.FieldError("seq", "not in the tree")
	}
	return &trail.InclusionProof{LeafIndex: seq, TreeSize: size, Hashes: inclusionPath(int(seq), l.leaves[:size])}, nil
}

func (s *memStore) ConsistencyProof(ctx context.Context, tenant string, from, to int64) (*trail.ConsistencyProof, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	if to <= 0 {
		to = l.cp.Size
	}
	if to > l.cp.Size || from < 1 || from > to {
		return nil, trail.FieldError("from", "bad range")
	}
	p := &trail.ConsistencyProof{From: from, To: to, Hashes: []trail.Hash{}}
	if from < to {
		p.Hashes = subproof(int(from), l.leaves[:to], true)
	}
	return p, nil
}

// inclusionPath is PATH(m, D[n]) of RFC 6962 §2.1.1.
func inclusionPath(m int, leaves []trail.Hash) []trail.Hash {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(inclusionPath(m, leaves[:k]), treeRoot(leaves[k:]))
	}
	return append(inclusionPath(m-k, leaves[k:]), treeRoot(leaves[:k]))
}

// subproof is SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2.
func subproof(m int, leaves []trail.Hash, b bool) []trail.Hash {
	n := len(leaves)
	if m == n {
		if b {
			return nil
		}
		return []trail.Hash{treeRoot(leaves)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(m, leaves[:k], b), treeRoot(leaves[k:]))
	}
	return append(subproof(m-k, leaves[k:], false), treeRoot(leaves[:k]))
}

// split is the largest power of two smaller than n.
func split(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func (s *memStore) Retain(ctx context.Context, tenant string, before time.Time) (*trail.RetentionResult, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	res := &trail.RetentionResult{Tenant: tenant, FirstSeq: -1, LastSeq: -1}
	for seq := range l.data {
		if l.data[seq] != nil && l.recv[seq].Before(before) {
			l.data[seq] = nil
			l.events[seq] = nil
			res.Purged++
			if res.FirstSeq < 0 {
				res.FirstSeq = int64(seq)
			}
			res.LastSeq = int64(seq)
		}
	}
	return res, nil
}

func (s *memStore) Erase(ctx context.Context, tenant string, seqs []int64) (*trail.ErasureResult, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	l, err := s.log(tenant)
	if err != nil {
		return nil, err
	}
	for _, q := range seqs {
		if q < 0 || q >= int64(len(l.data)) {
			return nil, trail.FieldError("seqs", "seq %d is not in the log", q)
		}
	}
	res := &trail.ErasureResult{Tenant: tenant, Seqs: []int64{}}
	for _, q := range seqs {
		if l.data[q] != nil {
			l.data[q] = nil
			l.events[q] = nil
			res.Seqs = append(res.Seqs, q)
		}
	}
	slices.Sort(res.Seqs)
	res.Erased = int64(len(res.Seqs))
	return res, nil
}

func (s *memStore) Verify(ctx context.Context) (*trail.VerifyReport, error) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	rep := &trail.VerifyReport{}
	names := make([]string, 0, len(s.d.logs))
	for name := range s.d.logs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l := s.d.logs[name]
		rep.Tenants++
		for seq, d := range l.data {
			rep.Events++
			if d == nil {
				rep.Erased++
				continue
			}
			if trail.Hash(leafHash(d)) != l.leaves[seq] {
				return nil, &trail.TamperError{Tenant: name, Seq: int64(seq), File: "memory", Reason: "leaf hash mismatch"}
			}
		}
		if treeRoot(l.leaves[:l.cp.Size]) != l.cp.Root {
			return nil, &trail.TamperError{Tenant: name, Seq: -1, Reason: "root mismatch"}
		}
		rep.Checkpoints++
	}
	return rep, nil
}

func (s *memStore) Close() error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.closed = true
	return nil
}

// memHarness opens memStores.
type memHarness struct {
	signer   note.Signer
	verifier note.Verifier
}

func newMemHarness(t *testing.T) *memHarness {
	skey, vkey, err := note.GenerateKey(rand.Reader, "trail.test")
	if err != nil {
		t.Fatal(err)
	}
	h := &memHarness{}
	if h.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if h.verifier, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *memHarness) New(t *testing.T, opts Options) trail.Store {
	d := &memData{changed: make(chan struct{}), logs: map[string]*memLog{}, signer: h.signer, origin: h.Origin}
	return &memStore{d: d, now: opts.Now}
}

func (h *memHarness) Reopen(t *testing.T, s trail.Store) trail.Store {
	m := s.(*memStore)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return &memStore{d: m.d, now: m.now}
}

func (h *memHarness) Tamper(t *testing.T, s trail.Store, tenant string, seq int64) trail.Store {
	m := s.(*memStore)
	m.Close()
	m.d.mu.Lock()
	d := bytes.Clone(m.d.logs[tenant].data[seq])
	i := bytes.Index(d, []byte(`"action":"`)) + len(`"action":"`)
	d[i]++
	m.d.logs[tenant].data[seq] = d
	m.d.mu.Unlock()
	return &memStore{d: m.d, now: m.now}
}

func (h *memHarness) Verifier() note.Verifier     { return h.verifier }
func (h *memHarness) Origin(tenant string) string { return "trail.test/" + tenant }

// TestRunMemStore runs the suite against memStore.
func TestRunMemStore(t *testing.T) {
	Run(t, newMemHarness(t))
}
