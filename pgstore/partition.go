package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// partitionStart returns the start (Unix seconds) of the partition that
// holds t.
func (s *Store) partitionStart(t time.Time) int64 {
	iv := int64(s.opts.PartitionInterval / time.Second)
	u := t.Unix()
	start := u - u%iv
	if u < 0 && u%iv != 0 {
		start -= iv
	}
	return start
}

// partitionName is the table name of the partition starting at start.
func partitionName(start int64) string {
	t := time.Unix(start, 0).UTC()
	if t.Hour() == 0 {
		return "trail_events_p" + t.Format("20060102")
	}
	return "trail_events_p" + t.Format("20060102_15")
}

// loadPartitions learns which partitions exist.
func (s *Store) loadPartitions(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE p.relname = 'trail_events' AND n.nspname = current_schema()`)
	if err != nil {
		return fmt.Errorf("pgstore: list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgstore: list partitions: %w", err)
	}
	s.partMu.Lock()
	defer s.partMu.Unlock()
	for _, n := range names {
		if start, ok := parsePartitionName(n); ok {
			s.parts[start] = true
		}
	}
	return nil
}

// parsePartitionName returns the start of a partition from its name.
func parsePartitionName(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "trail_events_p")
	if !ok {
		return 0, false
	}
	layout := "20060102"
	if len(rest) == len("20060102_15") {
		layout = "20060102_15"
	}
	t, err := time.ParseInLocation(layout, rest, time.UTC)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// ensurePartition makes sure the partition holding t exists, and the
// PartitionsAhead ones after it.
func (s *Store) ensurePartition(ctx context.Context, t time.Time) error {
	first := s.partitionStart(t)
	iv := int64(s.opts.PartitionInterval / time.Second)
	var missing []int64
	s.partMu.Lock()
	for i := range int64(s.opts.PartitionsAhead + 1) {
		if start := first + i*iv; !s.parts[start] {
			missing = append(missing, start)
		}
	}
	s.partMu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	for _, start := range missing {
		from := time.Unix(start, 0).UTC()
		to := time.Unix(start+iv, 0).UTC()
		if _, err := s.pool.Exec(ctx, `SELECT trail_create_partition($1, $2, $3)`, partitionName(start), from, to); err != nil {
			return s.dbError("create partition", err)
		}
	}
	s.partMu.Lock()
	for _, start := range missing {
		s.parts[start] = true
	}
	s.partMu.Unlock()
	return nil
}
