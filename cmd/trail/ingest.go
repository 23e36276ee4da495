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
)

// runIngest sends events from files or stdin: a JSON object (one event), a
// JSON array, {"events":[…]}, or NDJSON; in batches of --batch.
func runIngest(ctx context.Context, args []string, e env) int {
	fs := newFlags("ingest", e)
	co := addClientFlags(fs)
	batch := fs.Int("batch", 1000, "events per request (at most 10000)")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	if *batch < 1 || *batch > 10000 {
		fmt.Fprintln(e.stderr, "trail ingest: --batch: must be between 1 and 10000")
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
		if err := ingestStream(ctx, c, r, *batch, prog); err != nil {
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
