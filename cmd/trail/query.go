package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// filterFlags are the query filters shared by query, tail and export.
type filterFlags struct {
	values map[string]*string
}

var filterNames = []string{"actor", "action", "outcome", "severity", "resource_type", "resource_id", "ip", "request_id", "q", "from", "to"}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{values: map[string]*string{}}
	for _, n := range filterNames {
		f.values[n] = fs.String(strings.ReplaceAll(n, "_", "-"), "", "filter: "+n)
	}
	return f
}

func (f *filterFlags) query() url.Values {
	q := url.Values{}
	for n, v := range f.values {
		if *v != "" {
			q.Set(n, *v)
		}
	}
	return q
}

func runQuery(ctx context.Context, args []string, e env) int {
	fs := newFlags("query", e)
	co := addClientFlags(fs)
	ff := addFilterFlags(fs)
	limit := fs.Int("limit", 100, "events per page (at most 1000)")
	order := fs.String("order", "desc", "desc (newest first) or asc")
	all := fs.Bool("all", false, "follow cursors to the end")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail query:", err)
		return exitUsage
	}
	q := ff.query()
	q.Set("limit", strconv.Itoa(*limit))
	q.Set("order", *order)
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	for {
		var page struct {
			Events     []json.RawMessage `json:"events"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := c.getJSON(ctx, "/v1/events", q, &page); err != nil {
			fmt.Fprintln(e.stderr, "trail query:", err)
			return exitFailure
		}
		for _, ev := range page.Events {
			w.Write(ev)
			w.WriteByte('\n')
		}
		if !*all || page.NextCursor == "" {
			return exitOK
		}
		q.Set("cursor", page.NextCursor)
	}
}

// runTail follows the live stream, reconnecting with Last-Event-ID.
func runTail(ctx context.Context, args []string, e env) int {
	fs := newFlags("tail", e)
	co := addClientFlags(fs)
	ff := addFilterFlags(fs)
	fromSeq := fs.Int64("from-seq", -1, "start at this seq instead of now")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail tail:", err)
		return exitUsage
	}
	q := ff.query()
	if *fromSeq >= 0 {
		q.Set("from_seq", strconv.FormatInt(*fromSeq, 10))
	}
	last := ""
	for ctx.Err() == nil {
		err := tailOnce(ctx, c, q, &last, e)
		if ctx.Err() != nil {
			break
		}
		if ae, ok := err.(*apiError); ok && ae.Status < 500 {
			fmt.Fprintln(e.stderr, "trail tail:", err)
			return exitFailure
		}
		fmt.Fprintln(e.stderr, "trail tail: reconnecting:", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return exitOK
}

func tailOnce(ctx context.Context, c *client, q url.Values, last *string, e env) error {
	resp, err := c.doStream(ctx, q, *last)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			*last = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			fmt.Fprintln(e.stdout, strings.TrimPrefix(line, "data: "))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("stream ended")
}

// doStream opens the SSE stream, resuming after last when set.
func (c *client) doStream(ctx context.Context, q url.Values, last string) (*http.Response, error) {
	if c.tenant != "" {
		q.Set("tenant", c.tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/stream?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	return c.send(req)
}

func runExport(ctx context.Context, args []string, e env) int {
	fs := newFlags("export", e)
	co := addClientFlags(fs)
	ff := addFilterFlags(fs)
	format := fs.String("format", "ndjson", "ndjson, csv or bundle")
	out := fs.String("out", "-", "output file (- = stdout)")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail export:", err)
		return exitUsage
	}
	q := ff.query()
	q.Set("format", *format)
	resp, err := c.do(ctx, http.MethodGet, "/v1/export", q, nil, "")
	if err != nil {
		fmt.Fprintln(e.stderr, "trail export:", err)
		return exitFailure
	}
	defer resp.Body.Close()
	w := e.stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(e.stderr, "trail export:", err)
			return exitFailure
		}
		w = f
	}
	prog := &progress{w: e.stderr, label: "bytes"}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				fmt.Fprintln(e.stderr, "trail export:", err)
				return exitFailure
			}
			if f != nil {
				prog.add(int64(n))
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				fmt.Fprintln(e.stderr, "\ntrail export: transfer interrupted:", rerr)
				return exitFailure
			}
			break
		}
	}
	if f != nil {
		prog.done()
		if err := f.Close(); err != nil {
			fmt.Fprintln(e.stderr, "trail export:", err)
			return exitFailure
		}
	}
	return exitOK
}
