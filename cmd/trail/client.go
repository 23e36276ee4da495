package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// clientOpts are the flags every client command shares.
type clientOpts struct {
	server, key, tenant string
}

func addClientFlags(fs *flag.FlagSet) *clientOpts {
	o := &clientOpts{}
	fs.StringVar(&o.server, "server", "http://127.0.0.1:8080", "trail server URL")
	fs.StringVar(&o.key, "key", "", "API key")
	fs.StringVar(&o.tenant, "tenant", "", "tenant (for keys scoped to all tenants)")
	return o
}

// client talks to a trail server.
type client struct {
	base   string
	key    string
	tenant string
	hc     *http.Client
}

func newClient(o *clientOpts) (*client, error) {
	if o.key == "" {
		return nil, fmt.Errorf("--key (or TRAIL_KEY) is required")
	}
	u, err := url.Parse(o.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server: %q is not an http(s) URL", o.server)
	}
	return &client{base: strings.TrimRight(o.server, "/"), key: o.key, tenant: o.tenant, hc: &http.Client{}}, nil
}

// apiError is an error response of the server.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s (%d)", e.Code, e.Status)
	if e.Field != "" {
		s += " " + e.Field + ":"
	}
	return s + " " + e.Message
}

// do sends a request and returns the response when it is 2xx; otherwise
// the server's error.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	if q == nil {
		q = url.Values{}
	}
	if c.tenant != "" && q.Get("tenant") == "" {
		q.Set("tenant", c.tenant)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return c.send(req)
}

// send authenticates req and sends it; a non-2xx answer is returned as
// the server's error.
func (c *client) send(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", "trail-cli")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb struct {
			Error apiError `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
		}
		eb.Error.Status = resp.StatusCode
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			eb.Error.Message += " (retry after " + ra + "s)"
		}
		return nil, &eb.Error
	}
	return resp, nil
}

// getJSON GETs path and decodes the JSON response into v.
func (c *client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// sendJSON sends v as JSON and decodes the response into out (if non-nil).
func (c *client) sendJSON(ctx context.Context, method, path string, v, out any) error {
	var body io.Reader
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(data))
	}
	resp, err := c.do(ctx, method, path, nil, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// progress prints a one-line progress indicator to w at most every 200 ms.
type progress struct {
	w     io.Writer
	label string
	last  time.Time
	n     int64
	total int64
}

func (p *progress) add(n int64) {
	p.n += n
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.print()
}

func (p *progress) print() {
	if p.total > 0 {
		pct := float64(p.n) * 100 / float64(p.total)
		bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
		fmt.Fprintf(p.w, "\r%s [%s] %5.1f%% %d", p.label, bar, pct, p.n)
		return
	}
	fmt.Fprintf(p.w, "\r%s %d", p.label, p.n)
}

func (p *progress) done() {
	p.print()
	fmt.Fprintln(p.w)
}

// readJSONFile decodes the JSON document in file, or on stdin when file is
// "-". Numbers stay exact (json.Number).
func readJSONFile(file string, stdin io.Reader) (any, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	return v, nil
}
