package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// RolesSQL returns the statements that give two existing roles the
// privileges trail needs in schema, and no more:
//
//   - app, the role "trail serve" connects as: it reads everything, appends
//     events, ids, words, checkpoints and schema versions, widens tiles,
//     updates tenant heads, keys and settings, and creates partitions
//     through trail_create_partition. It can neither UPDATE nor DELETE an
//     event, an id, an erased stub, a checkpoint or a schema version.
//   - retention, the role of the retention job (pgstore
//     Options.RetentionDSN): app's rights plus DELETE on trail_events,
//     INSERT on trail_erased and dropping empty partitions through
//     trail_drop_partition.
//
// The tables stay owned by the role that ran the migrations (the first
// start, or an upgrade, connects as that owner).
func RolesSQL(schema, app, retention string) []string {
	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	sch := id(schema)
	t := func(name string) string { return sch + "." + id(name) }
	var out []string
	for _, r := range []string{app, retention} {
		out = append(out,
			"GRANT USAGE ON SCHEMA "+sch+" TO "+id(r),
			"GRANT SELECT ON ALL TABLES IN SCHEMA "+sch+" TO "+id(r),
			"GRANT INSERT ON "+strings.Join([]string{t("trail_events"), t("trail_ids"), t("trail_words"), t("trail_checkpoints"),
				t("trail_tenants"), t("trail_tiles"), t("trail_keys"), t("trail_settings"), t("trail_schemas"), t("trail_meta")}, ", ")+" TO "+id(r),
			"GRANT UPDATE ON "+strings.Join([]string{t("trail_tenants"), t("trail_tiles"), t("trail_keys"), t("trail_settings")}, ", ")+" TO "+id(r),
			"GRANT EXECUTE ON FUNCTION "+t("trail_create_partition")+"(text, timestamptz, timestamptz) TO "+id(r),
			// Dashboard sessions (package pgsessions) are state, not history.
			"GRANT INSERT, UPDATE, DELETE ON "+t("trail_sessions")+" TO "+id(r),
		)
	}
	out = append(out,
		"GRANT DELETE ON "+t("trail_events")+" TO "+id(retention),
		"GRANT INSERT ON "+t("trail_erased")+" TO "+id(retention),
		"GRANT EXECUTE ON FUNCTION "+t("trail_drop_partition")+"(text) TO "+id(retention),
	)
	return out
}
