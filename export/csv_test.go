package export_test

import (
	"bytes"
	"encoding/csv"
	"math"
	"slices"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/export"
)

func writeCSV(t testing.TB, evs []*trail.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := export.NewCSV(&buf)
	for _, e := range evs {
		if err := w.Write(e); err != nil {
			t.Fatalf("Write(seq %d): %v", e.Seq, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readCSV parses CSV output into rows of cells keyed by column name.
func readCSV(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], export.CSVColumns) {
		t.Fatalf("header = %q, want %q", recs[0], export.CSVColumns)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := make(map[string]string)
		for i, c := range rec {
			row[export.CSVColumns[i]] = c
		}
		rows = append(rows, row)
	}
	return rows
}

func TestCSVGolden(t *testing.T) {
	checkGolden(t, "events.csv.golden", writeCSV(t, goldenEvents(t)))
}

func TestCSVColumns(t *testing.T) {
	want := "seq,id,time,received_at,tenant,action,outcome,severity,actor_id,actor_name,actor_type,resource_type,resource_id,resource_name,ip,user_agent,origin,request_id,method,path,status,reason,changes,metadata,leaf_hash\n"
	if got := string(writeCSV(t, nil)); got != want {
		t.Errorf("empty export = %q, want the header row %q", got, want)
	}
}

func TestCSVCells(t *testing.T) {
	evs := goldenEvents(t)
	rows := readCSV(t, writeCSV(t, evs))
	if len(rows) != len(evs) {
		t.Fatalf("got %d rows, want %d", len(rows), len(evs))
	}
	tests := []struct {
		row       int
		col, want string
	}{
		{0, "time", "2026-11-22T10:04:05.123Z"},
		{0, "received_at", "2026-11-22T10:04:05.124Z"},
		{0, "status", "200"},
		{0, "changes", `[{"field":"upstream","new":"b:80","old":"a:80"},{"field":"retries","new":3,"old":1}]`},
		{0, "metadata", `{"nested":{"a":null,"z":true},"plan":"pro","seats":12,"tags":["a","b"]}`},
		{0, "leaf_hash", leafHash(t, evs[0]).String()},
		// Erased: server fields and leaf hash, the rest empty.
		{1, "seq", "1"},
		{1, "id", evs[1].ID},
		{1, "received_at", "2026-11-22T10:04:06.123Z"},
		{1, "tenant", "acme"},
		{1, "time", ""},
		{1, "action", ""},
		{1, "actor_id", ""},
		{1, "ip", ""},
		{1, "leaf_hash", evs[1].LeafHash.String()},
		// Formula injection is neutralised.
		{2, "id", `'=HYPERLINK("http://evil")`},
		{2, "action", "'=SUM(A1)"},
		{2, "actor_id", "'+1"},
		{2, "actor_name", "'-2"},
		{2, "resource_type", "'@x"},
		{2, "resource_id", "'\tcmd"},
		{2, "resource_name", "'\rcarriage"},
		{2, "reason", "'-1+2"},
		{2, "metadata", `{"formula":"=1+1"}`},
		// Unicode, quotes and line breaks survive.
		{3, "actor_name", `Zoë "Z" O'Brien, Jr.`},
		{3, "resource_name", "Résumé 日本語 🎉"},
		// (encoding/csv's reader turns a quoted \r\n into \n; the file holds \r\n.)
		{3, "reason", "line one\nline two\nline \"three\""},
		{3, "changes", "[{\"field\":\"acl\",\"new\":[\"team:eng\",\"user:\u2028\"]}]"},
		{3, "metadata", "{\"big\":1e+21,\"quote\\\"key\":\"back\\\\slash\",\"small\":1.5e-7,\"😀\":2,\"\ue000\":1}"},
		{4, "status", "500"},
		{4, "resource_type", ""},
		{4, "changes", ""},
		{4, "metadata", ""},
	}
	for _, tt := range tests {
		if got := rows[tt.row][tt.col]; got != tt.want {
			t.Errorf("row %d %s = %q, want %q", tt.row, tt.col, got, tt.want)
		}
	}
	// No cell of any row starts with a formula character.
	for i, row := range rows {
		for col, c := range row {
			if c != "" && bytes.IndexByte([]byte("=+-@\t\r"), c[0]) >= 0 {
				t.Errorf("row %d %s = %q starts with a formula character", i, col, c)
			}
		}
	}
}

func TestCSVRejects(t *testing.T) {
	tests := []struct {
		name string
		e    *trail.Event
	}{
		{"erased without leaf hash", &trail.Event{Seq: 3, Erased: true}},
		{"unsupported metadata value", &trail.Event{Action: "a", Metadata: map[string]any{"x": struct{}{}}}},
		{"non-finite change", &trail.Event{Action: "a", Changes: []trail.Change{{Field: "f", New: math.Inf(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := export.NewCSV(&buf)
			if err := w.Write(tt.e); err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := readCSV(t, buf.Bytes()); len(got) != 0 {
				t.Errorf("after a failed Write: rows %q, want none", got)
			}
		})
	}
}
