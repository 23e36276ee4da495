package trail

import (
	"context"
	"time"
)

// Store is a tamper-evident, multi-tenant event store. Implementations:
// logstore (embedded, the default) and pgstore (PostgreSQL). Every
// implementation passes the conformance suite in package storetest.
//
// All methods are safe for concurrent use. Methods that take a tenant return
// an ENOTFOUND *Error when the tenant has no log, except Append, which
// creates it.
type Store interface {
	// Append durably stores a batch of events, all or nothing, and returns a
	// receipt per event in order. Each event is normalised (see
	// Event.Normalize) and validated first; a validation failure is an
	// EINVALID *Error whose Field starts with "events[i]" and nothing is
	// stored. An event whose id was already accepted in its tenant is not
	// stored again: its receipt is the original one with Duplicate set.
	// When Append returns nil the events are on stable storage, integrated
	// into their tenants' trees, and covered by the returned checkpoints.
	// Append takes ownership of the events.
	Append(ctx context.Context, events []*Event) (*AppendResult, error)

	// Get returns one event by id, with LeafHash set.
	Get(ctx context.Context, tenant, id string) (*Event, error)

	// Query returns the events of q.Tenant that match q, in log order
	// (newest first unless q.Order is OrderAsc), at most q.Limit of them,
	// and a cursor for the next page when there may be more. An erased
	// event matches no filter; a query without one lists it as what
	// remains of it (Erased set, server fields and LeafHash), in range
	// when its ReceivedAt is in [q.From, q.To).
	Query(ctx context.Context, q *Query) (*Page, error)

	// Stats counts the events that match q.Query, grouped by a field and/or
	// by time buckets. Erased events are not counted.
	Stats(ctx context.Context, q *StatsQuery) (*Stats, error)

	// Read returns up to limit stored records of tenant with seq >= from, in
	// seq order. Readers that follow the log (sinks, alerts, live tail) call
	// Read with their cursor and Wait when it returns nothing.
	Read(ctx context.Context, tenant string, from int64, limit int) ([]Record, error)

	// Wait blocks until tenant's log holds more than size events, or ctx is
	// done, and returns the new size. It returns at once when the log is
	// already larger. A tenant that does not exist yet is waited for.
	Wait(ctx context.Context, tenant string, size int64) (int64, error)

	// Tenants lists every tenant with a log, sorted by name.
	Tenants(ctx context.Context) ([]Tenant, error)

	// Checkpoint returns tenant's latest signed checkpoint.
	Checkpoint(ctx context.Context, tenant string) (*Checkpoint, error)

	// InclusionProof proves seq is in tenant's tree of the given size;
	// size <= 0 means the latest checkpoint's size.
	InclusionProof(ctx context.Context, tenant string, seq, size int64) (*InclusionProof, error)

	// ConsistencyProof proves tenant's tree of size to extends the tree of
	// size from; to <= 0 means the latest checkpoint's size.
	ConsistencyProof(ctx context.Context, tenant string, from, to int64) (*ConsistencyProof, error)

	// Retain removes the content of tenant's events received before the
	// cut-off, keeping their leaf hashes so every proof stays valid. Purged
	// events read back Erased. It is idempotent.
	Retain(ctx context.Context, tenant string, before time.Time) (*RetentionResult, error)

	// Erase removes the content of tenant's events at seqs, as Retain
	// does (ids, received_at and leaf hashes stay; they read back Erased).
	// Seqs already erased are skipped; the result lists the seqs this call
	// erased. A seq outside the log is an EINVALID *Error on "seqs" and
	// nothing is erased.
	Erase(ctx context.Context, tenant string, seqs []int64) (*ErasureResult, error)

	// Verify recomputes every leaf hash and every root from stable storage
	// and checks every stored checkpoint signature. Damage is reported as a
	// *TamperError naming the first tenant, seq and file found.
	Verify(ctx context.Context) (*VerifyReport, error)

	// Close releases the store. Appends in flight either complete or fail.
	Close() error
}
