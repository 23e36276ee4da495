package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migration is one versioned, append-only step of the schema. Applied
// migrations are recorded in trail_migrations and never run again; a
// released migration is never edited, only followed by a new one.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the schema of a trail database, oldest first.
//
// Every key starts with tenant, so that the tables can be distributed by
// tenant with Citus. Text columns use the "C" collation: bytewise
// comparison, as the query language defines it, and prefix LIKE that can
// use a B-tree.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE trail_tenants (
	tenant     text COLLATE "C" PRIMARY KEY,
	size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
	root       bytea  NOT NULL,
	checkpoint bytea,
	created_at timestamptz NOT NULL
);
COMMENT ON TABLE trail_tenants IS 'One row per tenant log: its size, root and latest signed checkpoint. Appends lock the row to sequence the tenant.';

CREATE TABLE trail_events (
	tenant        text COLLATE "C" NOT NULL,
	seq           bigint NOT NULL,
	received_at   timestamptz NOT NULL,
	time          timestamptz NOT NULL,
	id            text COLLATE "C" NOT NULL,
	action        text COLLATE "C" NOT NULL,
	outcome       text COLLATE "C" NOT NULL,
	severity      text COLLATE "C" NOT NULL,
	actor_id      text COLLATE "C" NOT NULL,
	resource_type text COLLATE "C" NOT NULL,
	resource_id   text COLLATE "C" NOT NULL,
	source_ip     inet,
	request_id    text COLLATE "C" NOT NULL,
	data          bytea NOT NULL,
	PRIMARY KEY (tenant, seq, received_at)
) PARTITION BY RANGE (received_at);
COMMENT ON TABLE trail_events IS 'Event content: data is the leaf (canonical JSON); the other columns are derived from it for indexing. Partitioned by received_at.';
CREATE INDEX trail_events_actor  ON trail_events (tenant, actor_id, seq);
CREATE INDEX trail_events_action ON trail_events (tenant, action, seq);
CREATE INDEX trail_events_ip     ON trail_events (tenant, source_ip, seq);

CREATE TABLE trail_words (
	tenant    text COLLATE "C" NOT NULL,
	first_seq bigint NOT NULL,
	last_seq  bigint NOT NULL,
	words     text[] NOT NULL,
	PRIMARY KEY (tenant, first_seq)
);
CREATE INDEX trail_words_words ON trail_words USING gin (words);
COMMENT ON TABLE trail_words IS 'One row per tenant per commit: the distinct index terms (free-text words, metadata values, resource and request ids, and tenant:<name>) of events first_seq..last_seq. Queries find the seq ranges that may match, then read only those events.';

CREATE TABLE trail_ids (
	tenant      text COLLATE "C" NOT NULL,
	id          text COLLATE "C" NOT NULL,
	seq         bigint NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (tenant, id)
);
COMMENT ON TABLE trail_ids IS 'Every accepted event id, kept after retention, for idempotency and get-by-id.';

CREATE TABLE trail_erased (
	tenant      text COLLATE "C" NOT NULL,
	seq         bigint NOT NULL,
	id          text COLLATE "C" NOT NULL,
	received_at timestamptz NOT NULL,
	erased_at   timestamptz NOT NULL,
	PRIMARY KEY (tenant, seq)
);
COMMENT ON TABLE trail_erased IS 'Events whose content retention or erasure removed; their leaf hashes stay in trail_tiles.';

CREATE TABLE trail_tiles (
	tenant text COLLATE "C" NOT NULL,
	level  int NOT NULL,
	idx    bigint NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (tenant, level, idx)
);
COMMENT ON TABLE trail_tiles IS 'Merkle tree tiles (C2SP tlog-tiles, height 8); level 0 holds the leaf hashes. A partial tile is widened in place.';

CREATE TABLE trail_checkpoints (
	tenant     text COLLATE "C" NOT NULL,
	size       bigint NOT NULL,
	note       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (tenant, size)
);
COMMENT ON TABLE trail_checkpoints IS 'Every signed checkpoint, one per commit that touched the tenant.';

CREATE TABLE trail_keys (
	id         text COLLATE "C" PRIMARY KEY,
	key        jsonb NOT NULL,
	updated_at timestamptz NOT NULL
);
COMMENT ON TABLE trail_keys IS 'API keys (hashes of secrets only), shared by every node.';

CREATE TABLE trail_settings (
	tenant     text COLLATE "C" PRIMARY KEY,
	settings   jsonb NOT NULL,
	updated_at timestamptz NOT NULL
);
COMMENT ON TABLE trail_settings IS 'Per-tenant data policies (retention, legal hold, masking), shared by every node.';

CREATE TABLE trail_meta (
	key   text COLLATE "C" PRIMARY KEY,
	value text NOT NULL
);
COMMENT ON TABLE trail_meta IS 'Facts about the database, e.g. verifier_key: the public key every node must sign with.';

-- Partition DDL runs as the owner of trail_events through these
-- functions, so that the serving role needs no ownership: it may create
-- partitions ahead, and only the retention role may drop them.
CREATE FUNCTION trail_create_partition(p_name text, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
	IF p_name !~ '^trail_events_p[0-9]{8}(_[0-9]{2})?$' OR p_from >= p_to THEN
		RAISE EXCEPTION 'trail_create_partition: bad partition % [%, %)', p_name, p_from, p_to;
	END IF;
	PERFORM pg_advisory_xact_lock(1885434484, hashtext(current_schema()));
	EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF trail_events FOR VALUES FROM (%L) TO (%L)', p_name, p_from, p_to);
END
$fn$;
REVOKE ALL ON FUNCTION trail_create_partition(text, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION trail_drop_partition(p_name text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
DECLARE
	empty boolean;
BEGIN
	IF p_name !~ '^trail_events_p[0-9]{8}(_[0-9]{2})?$' THEN
		RAISE EXCEPTION 'trail_drop_partition: bad partition name %', p_name;
	END IF;
	PERFORM pg_advisory_xact_lock(1885434484, hashtext(current_schema()));
	IF to_regclass(p_name) IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', p_name);
	EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I)', p_name) INTO empty;
	IF NOT empty THEN
		RETURN false;
	END IF;
	EXECUTE format('DROP TABLE %I', p_name);
	RETURN true;
END
$fn$;
REVOKE ALL ON FUNCTION trail_drop_partition(text) FROM PUBLIC;
`},
	{2, "action schemas", `
CREATE TABLE trail_schemas (
	tenant     text COLLATE "C" NOT NULL,
	action     text COLLATE "C" NOT NULL,
	version    int NOT NULL CHECK (version > 0),
	schema     jsonb NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (tenant, action, version)
);
COMMENT ON TABLE trail_schemas IS 'Per-tenant, per-action JSON Schemas for event metadata, one row per version, never updated; the highest version applies. Shared by every node.';
`},
	// The audit query of every day, action and outcome together (failed
	// logins), read the whole (tenant, action) range without outcome in
	// the key: 2.3 s p99 at 10M events.
	{3, "index action and outcome together", `
DROP INDEX trail_events_action;
CREATE INDEX trail_events_action_outcome ON trail_events (tenant, action, outcome, seq);
`},
	// Dashboard sessions (pgstore/pgsessions), shared by every node. Not
	// per tenant (an operator's session spans tenants), so keyed by the
	// hash of the session id alone.
	{4, "dashboard sessions", `
CREATE TABLE trail_sessions (
	id_hash      text COLLATE "C" PRIMARY KEY,
	session      jsonb NOT NULL,
	last_seen_at timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL
);
CREATE INDEX trail_sessions_last_seen ON trail_sessions (last_seen_at);
CREATE INDEX trail_sessions_expires ON trail_sessions (expires_at);
COMMENT ON TABLE trail_sessions IS 'Dashboard sign-in sessions keyed by the SHA-256 of the session id (never the id), shared by every node.';
`},
	// Free text read whole commits: a word in every commit but few events
	// (p99 1.4 s at 10M events). Each trail_words row now also holds its
	// events' term signatures, bit-sliced (signature.go); stored
	// uncompressed out of line, so that a query fetches only the slices of
	// its words' bits. Rows written before stay NULL: read whole.
	{5, "per-event term signatures in trail_words", `
ALTER TABLE trail_words ADD COLUMN slices bytea;
ALTER TABLE trail_words ALTER COLUMN slices SET STORAGE EXTERNAL;
COMMENT ON COLUMN trail_words.slices IS 'Bloom signatures of the terms of events first_seq..last_seq, transposed: 512 slices of one bit per event (pgstore/signature.go). NULL: none, read the whole range.';
`},
	// The planner does not count detoasting: it read a tenant's words rows
	// through the primary key (or all of them) and filtered on words,
	// decompressing every array (0.8–6 s for one page at 5M events). The
	// ranges of a word are read through this function, where the GIN
	// index is the only path: the tenant and the cursor are filters that
	// no B-tree serves (the tenant is also a word of every row), and
	// sequential scans are off. Every such read also scans the GIN
	// pending list (fastupdate), up to 4 MB by default: about 60 ms at
	// 5M events under ingest; 256 kB bounds it.
	{6, "word ranges through the GIN index", `
ALTER INDEX trail_words_words SET (gin_pending_list_limit = 256);
CREATE FUNCTION trail_word_ranges(p_tenant text, p_words text[], p_cursor bigint, p_desc boolean, p_limit int)
RETURNS TABLE (first_seq bigint, last_seq bigint)
LANGUAGE sql STABLE SET search_path FROM CURRENT SET enable_seqscan = off AS $fn$
	SELECT w.first_seq, w.last_seq FROM trail_words w
	WHERE w.words @> p_words AND w.tenant || '' = p_tenant
		AND CASE WHEN p_desc THEN w.first_seq + 0 < p_cursor ELSE w.last_seq + 0 > p_cursor END
	ORDER BY CASE WHEN p_desc THEN -w.first_seq ELSE w.first_seq END
	LIMIT p_limit
$fn$;
COMMENT ON FUNCTION trail_word_ranges(text, text[], bigint, boolean, int) IS 'The seq ranges of tenant''s trail_words rows holding every word, past the cursor in the given order, found through the GIN index only.';
`},
	// A /24 of a large tenant is 256 addresses of trail_events_ip, each
	// a probe of every partition's index, 768 at 10M events (three
	// partitions): p99 65–147 ms over HTTP at load 3–11. A /24 (and each
	// /24 of a /16 to /23) is one ordered run of this index instead.
	// source_ip is included so that a narrower ip condition beside it is
	// decided in the index.
	{7, "index IPv4 /24 networks", `
CREATE INDEX trail_events_net24 ON trail_events (tenant, network(set_masklen(source_ip, 24)), seq) INCLUDE (source_ip);
`},
}

// migrateLockKey is the advisory lock that serialises migrations of one
// schema (combined with the schema name's hash).
const migrateLockKey = 0x747261696c // "trail"

// Migrate applies every pending migration to the schema the connection
// uses, in one transaction under an advisory lock, so that several nodes
// starting at the same moment apply each migration exactly once and the
// others wait for it. It returns the schema version.
func Migrate(ctx context.Context, conn *pgx.Conn) (int, error) {
	latest := migrations[len(migrations)-1].version
	// Up to date: nothing to lock or create, so a role without DDL
	// rights (the serving role of docs) can start.
	var current int
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('trail_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if exists {
		if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM trail_migrations`).Scan(&current); err != nil {
			return 0, fmt.Errorf("pgstore: migrate: %w", err)
		}
		if current == latest {
			return latest, nil
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, int32(migrateLockKey&0x7fffffff)); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS trail_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL)`); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM trail_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: %w", err)
	}
	if current > latest {
		return 0, fmt.Errorf("pgstore: the database schema is version %d, newer than this trail (version %d): upgrade trail", current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("pgstore: migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO trail_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
			m.version, m.name); err != nil {
			return 0, fmt.Errorf("pgstore: migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pgstore: migrate: commit: %w", err)
	}
	return latest, nil
}
