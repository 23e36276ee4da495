package checkpoint_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/trail-audit/trail/checkpoint"
)

func FuzzParseBody(f *testing.F) {
	if msg, err := os.ReadFile("testdata/checkpoint.golden"); err == nil {
		body, _, _ := bytes.Cut(msg, []byte("\n\n"))
		f.Add(append(body, '\n'))
		f.Add(append(body, "\nextension\n"...))
	}
	f.Add(golden.Body())
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte("o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := checkpoint.ParseBody(body)
		if err != nil {
			return
		}
		// What is accepted is the canonical body, plus extension lines.
		again := c.Body()
		if !bytes.HasPrefix(body, again) {
			t.Fatalf("ParseBody(%q) = %+v, whose Body() %q is not a prefix of the input", body, c, again)
		}
		c2, err := checkpoint.ParseBody(again)
		if err != nil || c2 != c {
			t.Fatalf("ParseBody(Body()) = %+v, %v; want %+v", c2, err, c)
		}
	})
}

func FuzzOpen(f *testing.F) {
	s, v, _ := testKey(f, "trail.example.com", 1)
	if msg, err := os.ReadFile("testdata/checkpoint.golden"); err == nil {
		f.Add(msg)
	}
	msg, err := checkpoint.Sign(golden, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— trail.example.com AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := checkpoint.Open(msg, v)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(msg, c.Body()) {
			t.Fatalf("Open(%q) = %+v, whose Body() is not a prefix of the note", msg, c)
		}
		resigned, err := checkpoint.Sign(c, s)
		if err != nil {
			t.Fatalf("Sign(%+v): %v", c, err)
		}
		c2, err := checkpoint.Open(resigned, v)
		if err != nil || c2 != c {
			t.Fatalf("Open(Sign(%+v)) = %+v, %v", c, c2, err)
		}
	})
}
