package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
	"golang.org/x/mod/sumdb/note"
)

// Options configure a Store.
type Options struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string
	// Schema, when set, is the schema that holds trail's tables: it is
	// created if missing and used as the search_path of every connection.
	// Empty means the connection's own search_path (normally "public").
	Schema string

	// Signer signs checkpoints; nil opens the store read-only (Verify,
	// queries and proofs work, Append and Retain fail).
	Signer note.Signer
	// Verifier checks stored checkpoints; it must match Signer.
	Verifier note.Verifier
	// VerifierKey is Verifier in text form. The first node records it in
	// the database, so that a node started with another key is refused
	// and "trail verify --postgres" can name the key.
	VerifierKey string
	ServerName  string // checkpoint origin prefix; default "trail"

	Now    func() time.Time // default time.Now
	Rand   io.Reader        // randomness for ids; default crypto/rand
	Logger *slog.Logger     // nil: discard
	Limits trail.Limits

	// RetentionDSN, when set, is the connection string Retain uses: a
	// role allowed to delete events (see RolesSQL), which the serving
	// role is not. Empty means DSN.
	RetentionDSN string

	// PartitionInterval is the time range of one partition of
	// trail_events, aligned to the Unix epoch; a whole number of hours,
	// default 7 days.
	PartitionInterval time.Duration
	// PartitionsAhead is how many partitions past the current one are
	// created in advance; default 2.
	PartitionsAhead int
	// MaxConns caps the connection pool; default 4 × GOMAXPROCS, at least 8.
	MaxConns int32
	// Committers is how many transactions one node runs at once for
	// appends. Each Append queues for the committer of its (first
	// event's) tenant, which commits every request waiting in its queue
	// together (group commit). Default 4.
	Committers int
	// PollInterval bounds how long a reader waiting for new events may miss
	// a lost notification; default 1s.
	PollInterval time.Duration
}

func (o *Options) setDefaults() error {
	if o.DSN == "" {
		return errors.New("pgstore: Options.DSN is required")
	}
	if o.Verifier == nil {
		return errors.New("pgstore: Options.Verifier is required")
	}
	if o.Signer != nil && (o.Signer.KeyHash() != o.Verifier.KeyHash() || o.Signer.Name() != o.Verifier.Name()) {
		return errors.New("pgstore: Options.Verifier does not match Options.Signer")
	}
	if o.ServerName == "" {
		o.ServerName = "trail"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Limits = o.Limits.WithDefaults()
	if o.PartitionInterval == 0 {
		o.PartitionInterval = 7 * 24 * time.Hour
	}
	if o.PartitionInterval < time.Hour || o.PartitionInterval%time.Hour != 0 {
		return fmt.Errorf("pgstore: Options.PartitionInterval %v: must be a whole number of hours", o.PartitionInterval)
	}
	if o.PartitionsAhead <= 0 {
		o.PartitionsAhead = 2
	}
	if o.Committers <= 0 {
		o.Committers = 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	return nil
}

// Store is a trail.Store on PostgreSQL. Any number of Stores, in any number
// of processes, may share one database schema.
type Store struct {
	opts     Options
	pool     *pgxpool.Pool
	retPool  *pgxpool.Pool // Retain's connections: pool unless Options.RetentionDSN
	schema   string        // the schema the tables live in
	channel  string        // NOTIFY channel of commits, per schema
	verifier note.Verifier

	idMu sync.Mutex // guards opts.Rand

	partMu sync.Mutex
	parts  map[int64]bool // start (Unix seconds) of partitions known to exist

	sizeMu  sync.Mutex
	sizes   map[string]int64         // latest known size of each tenant
	changed map[string]chan struct{} // of tenants with waiters: closed and removed when the tenant's size changes
	// heard counts the listener's signs of life: size changes it
	// observed (any tenant) and its heartbeats. A waiter that saw it
	// move during an interval knows no notification was lost meanwhile.
	heard uint64
	polls atomic.Int64 // pollSize queries made (for tests)

	readMu    sync.Mutex
	readTrees map[string]*merkle.Tree // committed trees for proofs, by tenant

	notes noteCache // each tenant's latest checkpoint note known to be validly signed

	closeMu  sync.RWMutex      // held for reading while a request is queued; Close takes it to stop queueing
	queues   []chan *appendReq // one per committer
	commitWG sync.WaitGroup

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once
}

var _ trail.Store = (*Store)(nil)

// Open connects to the database, applies pending migrations and starts
// listening for commits of other nodes.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgstore: DSN: %w", err)
	}
	if opts.Schema != "" {
		if err := createSchema(ctx, cfg.ConnConfig, opts.Schema); err != nil {
			return nil, err
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	// A generic plan of the prepared queries cannot prune by value and
	// reads every matching row before sorting (532 ms p99 for one actor
	// of a large tenant at 10M events); plan each execution for its values.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	} else if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := Migrate(ctx, conn); err != nil {
		return nil, err
	}
	s := &Store{
		opts:      opts,
		verifier:  opts.Verifier,
		parts:     map[int64]bool{},
		sizes:     map[string]int64{},
		changed:   map[string]chan struct{}{},
		readTrees: map[string]*merkle.Tree{},
		closed:    make(chan struct{}),
	}
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&s.schema); err != nil {
		return nil, fmt.Errorf("pgstore: current schema: %w", err)
	}
	if err := checkVerifier(ctx, conn, opts.Verifier, opts.VerifierKey); err != nil {
		return nil, err
	}
	s.channel = channelName(s.schema, "commit")
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("pgstore: pool: %w", err)
	}
	s.retPool = s.pool
	if opts.RetentionDSN != "" {
		rcfg, err := pgxpool.ParseConfig(opts.RetentionDSN)
		if err != nil {
			s.pool.Close()
			return nil, fmt.Errorf("pgstore: RetentionDSN: %w", err)
		}
		if opts.Schema != "" {
			rcfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
		}
		rcfg.MaxConns = 2
		if s.retPool, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
			s.pool.Close()
			return nil, fmt.Errorf("pgstore: retention pool: %w", err)
		}
	}
	if err := s.loadPartitions(ctx); err != nil {
		s.closePools()
		return nil, err
	}
	if opts.Signer != nil {
		if err := s.ensurePartition(ctx, opts.Now()); err != nil {
			s.closePools()
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ready := make(chan error, 1)
	s.wg.Add(1)
	// The listener's connection is named after its schema, so an operator
	// (or a test) can tell it from the pool's in pg_stat_activity.
	lcfg := cfg.ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] = listenerName(s.schema)
	go s.listen(lcfg, ready)
	if err := <-ready; err != nil {
		s.cancel()
		s.wg.Wait()
		s.closePools()
		return nil, err
	}
	for range opts.Committers {
		q := make(chan *appendReq, 64)
		s.queues = append(s.queues, q)
		s.commitWG.Add(1)
		go s.commitLoop(q)
	}
	return s, nil
}

// checkVerifier records the verifier key on the first start and refuses a
// node whose key differs from the recorded one: every node of a database
// must sign with the same key, or their checkpoints would not verify.
func checkVerifier(ctx context.Context, conn *pgx.Conn, v note.Verifier, text string) error {
	if text != "" {
		if _, err := conn.Exec(ctx, `INSERT INTO trail_meta (key, value) VALUES ('verifier_key', $1)
			ON CONFLICT (key) DO NOTHING`, text); err != nil {
			return fmt.Errorf("pgstore: record verifier key: %w", err)
		}
	}
	stored, err := StoredVerifierKey(ctx, conn)
	if err != nil || stored == "" {
		return err
	}
	sv, err := note.NewVerifier(stored)
	if err != nil {
		return fmt.Errorf("pgstore: trail_meta verifier_key: %w", err)
	}
	if sv.Name() != v.Name() || sv.KeyHash() != v.KeyHash() {
		return fmt.Errorf("pgstore: this node's signing key (%s+%08x) is not the database's (%s): every node must use the same signing.key", v.Name(), v.KeyHash(), stored)
	}
	return nil
}

// StoredVerifierKey returns the verifier key recorded in the database by
// the first node, "" when none was recorded.
func StoredVerifierKey(ctx context.Context, conn *pgx.Conn) (string, error) {
	var key string
	err := conn.QueryRow(ctx, `SELECT value FROM trail_meta WHERE key = 'verifier_key'`).Scan(&key)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgstore: read verifier key: %w", err)
	}
	return key, nil
}

// createSchema creates schema if it does not exist.
func createSchema(ctx context.Context, cfg *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgstore: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: schema %s: %w", schema, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("pgstore: create schema %s: %w", schema, err)
	}
	return nil
}

// channelName is the NOTIFY channel for kind in schema: channels are
// database-wide, so two schemas never hear each other.
func channelName(schema, kind string) string {
	name := "trail_" + kind + "." + schema
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// Close stops listening and closes the pool. Appends in flight complete or
// fail.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closeMu.Lock()
		close(s.closed)
		for _, q := range s.queues {
			close(q) // no Append can queue any more; committers drain what is queued
		}
		s.closeMu.Unlock()
		s.commitWG.Wait()
		s.cancel()
		s.wg.Wait()
		s.closePools()
	})
	return nil
}

func (s *Store) closePools() {
	if s.retPool != s.pool && s.retPool != nil {
		s.retPool.Close()
	}
	s.pool.Close()
}

// errClosed is returned by methods called after Close.
var errClosed = trail.Errorf(trail.EUNAVAILABLE, "store is closed")

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Store) origin(tenant string) string { return s.opts.ServerName + "/" + tenant }

// Pool returns the store's connection pool, for components that keep their
// own tables in the same database (keys, settings).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// dbError turns a database failure into the error a caller sees: context
// errors as they are, integrity and trail errors as they are, anything
// else an EUNAVAILABLE *trail.Error that keeps the cause for logs.
func (s *Store) dbError(op string, err error) error {
	var te *trail.Error
	var tam *trail.TamperError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &te), errors.As(err, &tam):
		return err
	case s.isClosed():
		return errClosed
	}
	s.opts.Logger.Error("pgstore: "+op, "err", err)
	return &trail.Error{Code: trail.EUNAVAILABLE, Message: "database: " + op + " failed", Err: err}
}
