package export

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

// CSVColumns are the columns of a CSV export, in order (DESIGN.md §6). The
// header row holds exactly these names.
var CSVColumns = []string{
	"seq", "id", "time", "received_at", "tenant", "action", "outcome", "severity",
	"actor_id", "actor_name", "actor_type", "resource_type", "resource_id", "resource_name",
	"ip", "user_agent", "origin", "request_id", "method", "path", "status", "reason",
	"changes", "metadata", "leaf_hash",
}

// Column indexes into a row.
const (
	colSeq = iota
	colID
	colTime
	colReceivedAt
	colTenant
	colAction
	colOutcome
	colSeverity
	colActorID
	colActorName
	colActorType
	colResourceType
	colResourceID
	colResourceName
	colIP
	colUserAgent
	colOrigin
	colRequestID
	colMethod
	colPath
	colStatus
	colReason
	colChanges
	colMetadata
	colLeafHash
	numColumns
)

// CSVWriter writes events as CSV: the header row [CSVColumns], then one row
// per event. Cells are quoted as RFC 4180 requires (a cell holding a comma,
// a quote or a line break is quoted, quotes doubled). Empty fields are empty
// cells; status is empty when 0; times are RFC 3339 in UTC; changes and
// metadata are their canonical JSON (RFC 8785), empty when absent; leaf_hash
// is standard base64, taken from Event.LeafHash or computed from the leaf
// when it is not set. An erased event has only seq, id, received_at, tenant
// and leaf_hash; its other cells are empty.
//
// Against spreadsheet formula injection, any cell that starts with '=',
// '+', '-', '@', TAB or CR gets a single quote ' in front, so "=SUM(A1)" is
// written as "'=SUM(A1)". This applies to every column, leaf_hash included
// (base64 may start with '+'): strip one leading quote from such a cell to
// get the value back.
//
// CSVWriter buffers its output; call Flush when done.
type CSVWriter struct {
	w      *csv.Writer
	header bool
	row    [numColumns]string
	buf    []byte
}

// NewCSV returns a CSVWriter that writes to w.
func NewCSV(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w)}
}

func (x *CSVWriter) writeHeader() error {
	if x.header {
		return nil
	}
	x.header = true
	return x.w.Write(CSVColumns)
}

// Write writes e's row, after the header row when it is the first. An
// erased event without a LeafHash is an error, as is an event whose
// changes, metadata or leaf cannot be encoded (see Event.AppendCanonical);
// on these errors nothing is written.
func (x *CSVWriter) Write(e *trail.Event) error {
	if err := x.fillRow(e); err != nil {
		return err
	}
	if err := x.writeHeader(); err != nil {
		return err
	}
	for i, c := range x.row {
		x.row[i] = neutralize(c)
	}
	return x.w.Write(x.row[:])
}

// Flush writes the header row if no event was written, and any buffered
// data, to the underlying writer.
func (x *CSVWriter) Flush() error {
	if err := x.writeHeader(); err != nil {
		return err
	}
	x.w.Flush()
	return x.w.Error()
}

func (x *CSVWriter) fillRow(e *trail.Event) error {
	r := &x.row
	*r = [numColumns]string{}
	r[colSeq] = strconv.FormatInt(e.Seq, 10)
	r[colID] = e.ID
	r[colReceivedAt] = formatTime(e.ReceivedAt)
	r[colTenant] = e.Tenant
	if e.Erased {
		if e.LeafHash == nil {
			return fmt.Errorf("csv: erased event seq %d: no leaf hash", e.Seq)
		}
		r[colLeafHash] = e.LeafHash.String()
		return nil
	}
	r[colTime] = formatTime(e.Time)
	r[colAction] = e.Action
	r[colOutcome] = e.Outcome
	r[colSeverity] = e.Severity
	r[colActorID] = e.Actor.ID
	r[colActorName] = e.Actor.Name
	r[colActorType] = e.Actor.Type
	if res := e.Resource; res != nil {
		r[colResourceType], r[colResourceID], r[colResourceName] = res.Type, res.ID, res.Name
	}
	if s := e.Source; s != nil {
		r[colIP], r[colUserAgent], r[colOrigin] = s.IP, s.UserAgent, s.Origin
	}
	if q := e.Request; q != nil {
		r[colRequestID], r[colMethod], r[colPath] = q.ID, q.Method, q.Path
		if q.Status != 0 {
			r[colStatus] = strconv.Itoa(q.Status)
		}
	}
	r[colReason] = e.Reason
	var err error
	if len(e.Changes) > 0 {
		if r[colChanges], err = x.canonicalMember(&trail.Event{Changes: e.Changes}, "changes"); err != nil {
			return fmt.Errorf("csv: event seq %d: %w", e.Seq, err)
		}
	}
	if len(e.Metadata) > 0 {
		if r[colMetadata], err = x.canonicalMember(&trail.Event{Metadata: e.Metadata}, "metadata"); err != nil {
			return fmt.Errorf("csv: event seq %d: %w", e.Seq, err)
		}
	}
	if e.LeafHash != nil {
		r[colLeafHash] = e.LeafHash.String()
	} else {
		leaf, err := e.AppendCanonical(x.buf[:0])
		if err != nil {
			return fmt.Errorf("csv: event seq %d: %w", e.Seq, err)
		}
		x.buf = leaf
		h := merkle.LeafHash(leaf)
		r[colLeafHash] = base64.StdEncoding.EncodeToString(h[:])
	}
	return nil
}

// canonicalMember returns the canonical JSON of the one member key of probe,
// an event with only that member set. It reuses the leaf encoder, so the
// cell holds exactly the bytes of that member in the event's leaf: the
// probe's leaf is {"actor":{},"<key>":<value>,"seq":0}.
func (x *CSVWriter) canonicalMember(probe *trail.Event, key string) (string, error) {
	leaf, err := probe.AppendCanonical(x.buf[:0])
	if err != nil {
		return "", err
	}
	x.buf = leaf
	prefix := len(`{"actor":{},"`) + len(key) + len(`":`)
	const suffix = `,"seq":0}`
	if len(leaf) < prefix+len(suffix) ||
		!bytes.HasPrefix(leaf, []byte(`{"actor":{},"`+key+`":`)) || !bytes.HasSuffix(leaf, []byte(suffix)) {
		return "", errors.New("unexpected leaf layout encoding " + key)
	}
	return string(leaf[prefix : len(leaf)-len(suffix)]), nil
}

// neutralize prefixes a cell that a spreadsheet would evaluate as a formula
// with a single quote.
func neutralize(c string) string {
	if c == "" {
		return c
	}
	switch c[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + c
	}
	return c
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(trail.TimeFormat)
}
