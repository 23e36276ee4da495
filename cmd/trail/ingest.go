package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/adapter"
)

// runIngest sends events from files or stdin; in batches of --batch.
// With --format json or ndjson (the default, one reader for both) the
// input is a JSON object (one event), a JSON array, {"events":[…]}, or
// NDJSON. With --format vault it is the JSON lines of Vault's file audit
// device, mapped by adapter.Vault (response entries only).
func runIngest(ctx context.Context, args []string, e env) int {
	fs := newFlags("ingest", e)
	co := addClientFlags(fs)
	batch := fs.Int("batch", 1000, "events per request (at most 10000)")
	quiet := fs.Bool("quiet", false, "no progress output")
	format := fs.String("format", "json", "input format: json or ndjson (trail events, either shape), or vault (Vault's file audit device)")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	if *batch < 1 || *batch > 10000 {
		fmt.Fprintln(e.stderr, "trail ingest: --batch: must be between 1 and 10000")
		return exitUsage
	}
	read := ingestStream
	switch *format {
	case "json", "ndjson":
	case "vault":
		read = ingestVault
	default:
		fmt.Fprintf(e.stderr, "trail ingest: --format: must be json, ndjson or vault (got %q)\n", *format)
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail ingest:", err)
		return exitUsage
	}
	inputs := fs.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	prog := &progress{w: e.stderr, label: "events sent"}
	if *quiet {
		prog.w = io.Discard
	}
	for _, name := range inputs {
		var r io.Reader = e.stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(e.stderr, "trail ingest:", err)
				return exitFailure
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil {
				prog.label = "bytes read"
				prog.total += st.Size()
			}
			r = f
		}
		if err := read(ctx, c, r, *batch, prog); err != nil {
			prog.done()
			fmt.Fprintf(e.stderr, "trail ingest: %s: %v\n", name, err)
			return exitFailure
		}
	}
	prog.done()
	return exitOK
}

// countingReader counts bytes for the progress bar.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if c.p.total > 0 {
		c.p.add(int64(n))
	}
	return n, err
}

func ingestStream(ctx context.Context, c *client, r io.Reader, batch int, prog *progress) error {
	br := bufio.NewReaderSize(&countingReader{r: r, p: prog}, 1<<20)
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	var pending []json.RawMessage
	sent := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var buf bytes.Buffer
		for _, ev := range pending {
			buf.Write(ev)
			buf.WriteByte('\n')
		}
		resp, err := c.do(ctx, http.MethodPost, "/v1/events", nil, &buf, "application/x-ndjson")
		if err != nil {
			return fmt.Errorf("events %d–%d: %w", sent, sent+len(pending)-1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent += len(pending)
		if prog.total == 0 {
			prog.add(int64(len(pending)))
		}
		pending = pending[:0]
		return nil
	}
	if first == '[' {
		dec := json.NewDecoder(br)
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("event %d: %w", sent+len(pending), err)
			}
			pending = append(pending, compact(raw))
			if len(pending) == batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	}
	// NDJSON, a single object, or {"events":[…]}: decode values one by one.
	dec := json.NewDecoder(br)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("event %d: %w", sent+len(pending), err)
		}
		var wrapper struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(raw, &wrapper) == nil && wrapper.Events != nil {
			for _, ev := range wrapper.Events {
				pending = append(pending, compact(ev))
				if len(pending) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			continue
		}
		pending = append(pending, compact(raw))
		if len(pending) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\n' && b != '\r' && b != '\t' {
			return b, br.UnreadByte()
		}
	}
}

// ingestVault sends the response entries of a Vault file audit log, each
// mapped by adapter.Vault, as NDJSON batches of batch events. A line that
// does not map stops it with the line number and the field; the batches
// before it are stored (their ids are derived from the lines, so a rerun
// stores nothing twice).
func ingestVault(ctx context.Context, c *client, r io.Reader, batch int, prog *progress) error {
	br := bufio.NewReaderSize(&countingReader{r: r, p: prog}, 1<<20)
	var buf bytes.Buffer
	pending, sent := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		resp, err := c.do(ctx, http.MethodPost, "/v1/events", nil, &buf, "application/x-ndjson")
		if err != nil {
			return fmt.Errorf("events %d–%d: %w", sent, sent+pending-1, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent += pending
		if prog.total == 0 {
			prog.add(int64(pending))
		}
		pending = 0
		buf.Reset()
		return nil
	}
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if l := bytes.TrimSpace(line); len(l) > 0 {
			ev, merr := adapter.Vault(l)
			if merr != nil {
				return fmt.Errorf("line %d: %w", n, merr)
			}
			if ev != nil {
				wire, werr := clientJSON(ev)
				if werr != nil {
					return fmt.Errorf("line %d: %w", n, werr)
				}
				buf.Write(wire)
				buf.WriteByte('\n')
				if pending++; pending == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err == io.EOF {
			return flush()
		}
	}
}

// clientJSON encodes an event as a client sends it: without the fields
// the server sets (seq, received_at, masked, erased, leaf_hash).
func clientJSON(e *trail.Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"seq", "received_at", "masked", "erased", "leaf_hash"} {
		delete(m, k)
	}
	return json.Marshal(m)
}
