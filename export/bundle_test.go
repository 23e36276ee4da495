package export_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/merkle"
)

// writeBundle writes a bundle of evs from l and checks that Close removed
// the temporary proof file.
func writeBundle(t testing.TB, l *testLog, evs []*trail.Event, filter string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tmp := t.TempDir()
	b, err := export.NewBundle(&buf, "acme", l.cp, l.vkey, l.proofs, tmp, bundleTime, filter)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := b.Write(e); err != nil {
			t.Fatalf("Write(seq %d): %v", e.Seq, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %d temporary files", len(left))
	}
	return buf.Bytes()
}

func verify(data []byte, key string) (*export.BundleReport, error) {
	return export.VerifyBundle(bytes.NewReader(data), int64(len(data)), key)
}

// zipFile is one entry of a bundle.
type zipFile struct {
	name string
	data []byte
}

func readZip(t testing.TB, data []byte) []zipFile {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var files []zipFile
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, zipFile{f.Name, b})
	}
	return files
}

func writeZip(t testing.TB, files []zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(files []zipFile, name string) []byte {
	for _, f := range files {
		if f.name == name {
			return f.data
		}
	}
	return nil
}

func TestBundleRoundTrip(t *testing.T) {
	l := newTestLog(t, 300, 4, 5, 200)
	every3 := func() []*trail.Event {
		var evs []*trail.Event
		for i := 1; i < len(l.events); i += 3 {
			evs = append(evs, l.events[i])
		}
		return evs
	}()
	tests := []struct {
		name        string
		events      []*trail.Event
		key         string
		wantTrusted bool
		first, last int64
		erased      int
	}{
		{"whole log", l.events, l.vkey, true, 0, 299, 3},
		{"range", l.events[10:120], l.vkey, true, 10, 119, 0},
		{"filtered, not contiguous", every3, l.vkey, true, 1, 298, 1},
		{"one event", l.events[299:], l.vkey, true, 299, 299, 0},
		{"no events", nil, l.vkey, true, -1, -1, 0},
		{"bundle's own key", l.events[:50], "", false, 0, 49, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeBundle(t, l, tt.events, "action:user.login")
			rep, err := verify(data, tt.key)
			if err != nil {
				t.Fatalf("VerifyBundle: %v", err)
			}
			want := export.BundleReport{
				Tenant: "acme", Origin: "trail.example.com/acme", TreeSize: 300,
				Events: len(tt.events), Erased: tt.erased, FirstSeq: tt.first, LastSeq: tt.last,
				KeyTrusted: tt.wantTrusted, CreatedAt: bundleTime, Filter: "action:user.login",
			}
			if *rep != want {
				t.Errorf("report = %+v\nwant %+v", *rep, want)
			}

			files := readZip(t, data)
			var names []string
			for _, f := range files {
				names = append(names, f.name)
			}
			if got, want := strings.Join(names, " "), "checkpoint key README.txt events.ndjson proofs.ndjson manifest.json"; got != want {
				t.Errorf("files = %s, want %s", got, want)
			}
			if got := file(files, "checkpoint"); !bytes.Equal(got, l.cp.Note) {
				t.Errorf("checkpoint = %q, want the signed note %q", got, l.cp.Note)
			}
			if got := string(file(files, "key")); got != l.vkey+"\n" {
				t.Errorf("key = %q, want %q", got, l.vkey+"\n")
			}
			if got, want := file(files, "events.ndjson"), writeNDJSON(t, tt.events); !bytes.Equal(got, want) {
				t.Errorf("events.ndjson differs from the NDJSON export of the same events")
			}
			if readme := string(file(files, "README.txt")); !strings.Contains(readme, "trail verify --bundle") || !strings.Contains(readme, "RFC 6962") {
				t.Errorf("README.txt does not explain how to verify:\n%s", readme)
			}
			var m map[string]any
			if err := json.Unmarshal(file(files, "manifest.json"), &m); err != nil {
				t.Fatal(err)
			}
			wantM := map[string]any{
				"format": "trail-bundle/1", "tenant": "acme", "origin": "trail.example.com/acme", "tree_size": 300.0,
				"events": float64(len(tt.events)), "first_seq": float64(tt.first), "last_seq": float64(tt.last),
				"created_at": "2026-12-01T09:00:00Z", "filter": "action:user.login",
			}
			if fmt.Sprint(m) != fmt.Sprint(wantM) {
				t.Errorf("manifest = %v\nwant %v", m, wantM)
			}
		})
	}
}

// TestBundleProofsRFC6962 checks every proof of a bundle with the reference
// RFC 6962 verifier, from the bundle's files alone.
func TestBundleProofsRFC6962(t *testing.T) {
	l := newTestLog(t, 1000, 7)
	files := readZip(t, writeBundle(t, l, l.events[3:777], ""))
	c, err := checkpoint.ParseBody(bytes.SplitAfterN(file(files, "checkpoint"), []byte("\n\n"), 2)[0][:len(l.cp.Note)-len(bytes.SplitAfterN(l.cp.Note, []byte("\n\n"), 2)[1])-1])
	if err != nil {
		t.Fatal(err)
	}
	events := bytes.Split(bytes.TrimSuffix(file(files, "events.ndjson"), []byte("\n")), []byte("\n"))
	proofs := bytes.Split(bytes.TrimSuffix(file(files, "proofs.ndjson"), []byte("\n")), []byte("\n"))
	if len(events) != 774 || len(proofs) != 774 {
		t.Fatalf("%d events and %d proofs, want 774", len(events), len(proofs))
	}
	for i := range events {
		var p struct {
			Seq       int64    `json:"seq"`
			LeafIndex uint64   `json:"leaf_index"`
			TreeSize  uint64   `json:"tree_size"`
			Hashes    [][]byte `json:"hashes"` // base64, as encoding/json decodes []byte
		}
		if err := json.Unmarshal(proofs[i], &p); err != nil {
			t.Fatal(err)
		}
		var leaf []byte
		if bytes.HasPrefix(events[i], []byte(`{"erased":true`)) {
			var stub struct {
				LeafHash string `json:"leaf_hash"`
			}
			json.Unmarshal(events[i], &stub)
			leaf, _ = base64.StdEncoding.DecodeString(stub.LeafHash)
		} else {
			leaf = rfc6962.DefaultHasher.HashLeaf(events[i])
		}
		if p.Seq != int64(i+3) || p.LeafIndex != uint64(i+3) || p.TreeSize != 1000 {
			t.Fatalf("proofs line %d = seq %d leaf %d size %d, want %d %d 1000", i+1, p.Seq, p.LeafIndex, p.TreeSize, i+3, i+3)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, leaf, p.Hashes, c.Root[:]); err != nil {
			t.Errorf("line %d: transparency-dev/merkle rejects the proof: %v", i+1, err)
		}
	}
}

// lines splits NDJSON into lines with their newlines.
func lines(b []byte) [][]byte {
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func editLines(f func(ls [][]byte) [][]byte) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Join(f(lines(b)), nil) }
}

func removeLine(n int) func([]byte) []byte {
	return editLines(func(ls [][]byte) [][]byte { return append(ls[:n-1:n-1], ls[n:]...) })
}

func swapLines(n, m int) func([]byte) []byte {
	return editLines(func(ls [][]byte) [][]byte { ls[n-1], ls[m-1] = ls[m-1], ls[n-1]; return ls })
}

func editLine(n int, f func([]byte) []byte) func([]byte) []byte {
	return editLines(func(ls [][]byte) [][]byte {
		ls[n-1] = append(f(bytes.TrimSuffix(ls[n-1], []byte("\n"))), '\n')
		return ls
	})
}

func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
}

// proofLine is a proofs.ndjson line.
type proofLine struct {
	Seq int64 `json:"seq"`
	trail.InclusionProof
}

// editProof edits the proof on a proofs.ndjson line.
func editProof(n int, f func(p *proofLine)) func([]byte) []byte {
	return editLine(n, func(line []byte) []byte {
		var p proofLine
		if err := json.Unmarshal(line, &p); err != nil {
			panic(err)
		}
		f(&p)
		out, _ := json.Marshal(p)
		return out
	})
}

func TestBundleTampered(t *testing.T) {
	l := newTestLog(t, 12, 4)
	data := writeBundle(t, l, l.events[:10], "")
	if _, err := verify(data, l.vkey); err != nil {
		t.Fatalf("the untampered bundle: %v", err)
	}
	_, otherKey := testKeys(t, 2)
	otherKeyFile := []byte(otherKey + "\n")
	nextEvent := writeNDJSON(t, l.events[10:11])
	nextProof, _ := l.proofs(10)
	nextProofLine, _ := json.Marshal(proofLine{10, *nextProof})

	type edit struct {
		file string
		f    func([]byte) []byte // nil removes the file
	}
	tests := []struct {
		name  string
		edits []edit
		key   string // "" means the log's key
		file  string
		line  int
		seq   int64
		is    error
	}{
		{"event byte changed", []edit{{"events.ndjson", editLine(3, replace("user.login", "user.logim"))}}, "", "events.ndjson", 3, 2, merkle.ErrProofFailed},
		{"event made invalid JSON", []edit{{"events.ndjson", editLine(3, replace(`"seq":2`, `"seq":2x`))}}, "", "events.ndjson", 3, -1, nil},
		{"event seq changed", []edit{{"events.ndjson", editLine(3, replace(`"seq":2`, `"seq":3`))}}, "", "events.ndjson", 3, 3, nil},
		{"event line removed", []edit{{"events.ndjson", removeLine(3)}}, "", "events.ndjson", 3, 3, nil},
		{"event lines reordered", []edit{{"events.ndjson", swapLines(3, 4)}}, "", "events.ndjson", 3, 3, nil},
		{"events and proofs reordered alike", []edit{{"events.ndjson", swapLines(3, 4)}, {"proofs.ndjson", swapLines(3, 4)}}, "", "events.ndjson", 4, 2, nil},
		{"event line repeated", []edit{{"events.ndjson", editLines(func(ls [][]byte) [][]byte { return append(ls, ls[9]) })}}, "", "events.ndjson", 11, 9, nil},
		{"last event line removed", []edit{{"events.ndjson", removeLine(10)}}, "", "proofs.ndjson", 10, 9, nil},
		{"empty line", []edit{{"events.ndjson", editLines(func(ls [][]byte) [][]byte { return append(ls[:5:5], append([][]byte{[]byte("\n")}, ls[5:]...)...) })}}, "", "events.ndjson", 6, -1, nil},
		{"no final newline", []edit{{"events.ndjson", func(b []byte) []byte { return b[:len(b)-1] }}}, "", "events.ndjson", 10, -1, nil},
		{"erased event's leaf hash changed", []edit{{"events.ndjson", editLine(5, replace(`"leaf_hash":"`, `"leaf_hash":"A`+`A`))}}, "", "events.ndjson", 5, -1, nil},
		{"erased event's leaf hash replaced", []edit{{"events.ndjson", editLine(5, func([]byte) []byte {
			return []byte(`{"erased":true,"leaf_hash":"` + leafHash(t, l.events[3]).String() + `","seq":4,"tenant":"acme"}`)
		})}}, "", "events.ndjson", 5, 4, merkle.ErrProofFailed},
		{"proof line removed", []edit{{"proofs.ndjson", removeLine(3)}}, "", "proofs.ndjson", 3, 3, nil},
		{"proof hash changed", []edit{{"proofs.ndjson", editProof(2, func(p *proofLine) { p.Hashes[1][7] ^= 1 })}}, "", "events.ndjson", 2, 1, merkle.ErrProofFailed},
		{"proof hash dropped", []edit{{"proofs.ndjson", editProof(2, func(p *proofLine) { p.Hashes = p.Hashes[1:] })}}, "", "events.ndjson", 2, 1, merkle.ErrProofFailed},
		{"proof for another leaf", []edit{{"proofs.ndjson", editProof(2, func(p *proofLine) { p.LeafIndex = 2 })}}, "", "proofs.ndjson", 2, 1, nil},
		{"proof for another tree size", []edit{{"proofs.ndjson", editProof(2, func(p *proofLine) { p.TreeSize = 11 })}}, "", "proofs.ndjson", 2, 1, nil},
		{"wrong trusted key", nil, otherKey, "checkpoint", 0, -1, checkpoint.ErrUnknownKey},
		{"bundle key replaced", []edit{{"key", func([]byte) []byte { return otherKeyFile }}}, "self", "checkpoint", 0, -1, checkpoint.ErrUnknownKey},
		{"checkpoint size changed", []edit{{"checkpoint", replace("\n12\n", "\n11\n")}}, "", "checkpoint", 0, -1, checkpoint.ErrSignature},
		{"checkpoint root changed", []edit{{"checkpoint", func(b []byte) []byte {
			c := bytes.Clone(b)
			i := bytes.Index(c, []byte("\n12\n")) + 4
			c[i] ^= 1
			return c
		}}}, "", "checkpoint", 0, -1, checkpoint.ErrSignature},
		{"checkpoint removed", []edit{{"checkpoint", nil}}, "", "checkpoint", 0, -1, nil},
		{"manifest origin changed", []edit{{"manifest.json", replace("trail.example.com/acme", "trail.example.com/other")}}, "", "manifest.json", 0, -1, nil},
		{"manifest tenant changed", []edit{{"manifest.json", replace(`"acme"`, `"other"`)}}, "", "manifest.json", 0, -1, nil},
		{"manifest counts one more event", []edit{{"manifest.json", replace(`"events": 10`, `"events": 11`)}}, "", "manifest.json", 0, -1, nil},
		{"manifest first seq changed", []edit{{"manifest.json", replace(`"first_seq": 0`, `"first_seq": 1`)}}, "", "manifest.json", 0, -1, nil},
		{"manifest format changed", []edit{{"manifest.json", replace(`trail-bundle/1`, `trail-bundle/2`)}}, "", "manifest.json", 0, -1, nil},
		{"a proven event added without the manifest", []edit{
			{"events.ndjson", func(b []byte) []byte { return append(bytes.Clone(b), nextEvent...) }},
			{"proofs.ndjson", func(b []byte) []byte { return append(append(bytes.Clone(b), nextProofLine...), '\n') }},
		}, "", "manifest.json", 0, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := readZip(t, data)
			for _, e := range tt.edits {
				for i := range files {
					if files[i].name != e.file {
						continue
					}
					if e.f == nil {
						files = append(files[:i], files[i+1:]...)
					} else {
						files[i].data = e.f(bytes.Clone(files[i].data))
					}
					break
				}
			}
			key := l.vkey
			switch tt.key {
			case "self":
				key = ""
			case "":
			default:
				key = tt.key
			}
			rep, err := verify(writeZip(t, files), key)
			if err == nil {
				t.Fatalf("VerifyBundle = %+v, nil; want an error", rep)
			}
			var be *export.BundleError
			if !errors.As(err, &be) {
				t.Fatalf("VerifyBundle: %v; want a *BundleError", err)
			}
			if be.File != tt.file || be.Line != tt.line || be.Seq != tt.seq {
				t.Errorf("VerifyBundle: %v\ngot file %q line %d seq %d, want %q %d %d", err, be.File, be.Line, be.Seq, tt.file, tt.line, tt.seq)
			}
			if !errors.Is(err, trail.ErrProofFailed) {
				t.Errorf("VerifyBundle: %v does not wrap trail.ErrProofFailed", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("VerifyBundle: %v does not wrap %v", err, tt.is)
			}
			if want := tt.file; want != "" && !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not name %s", err, want)
			}
			if tt.line > 0 && !strings.Contains(err.Error(), fmt.Sprintf("line %d", tt.line)) {
				t.Errorf("message %q does not name line %d", err, tt.line)
			}
		})
	}
}

func TestVerifyBundleArchive(t *testing.T) {
	l := newTestLog(t, 3)
	files := readZip(t, writeBundle(t, l, l.events, ""))
	tests := []struct {
		name  string
		files []zipFile
		file  string
	}{
		{"unexpected file", append(files[:len(files):len(files)], zipFile{"evil.txt", nil}), ""},
		{"file twice", append(files[:len(files):len(files)], zipFile{"events.ndjson", files[3].data}), "events.ndjson"},
		{"no proofs", append(files[:4:4], files[5]), "proofs.ndjson"},
		{"no README is fine", append(files[:2:2], files[3:]...), "ok"},
		{"no key with a trusted key is fine", append(files[:1:1], files[2:]...), "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verify(writeZip(t, tt.files), l.vkey)
			if tt.file == "ok" {
				if err != nil {
					t.Fatalf("VerifyBundle: %v", err)
				}
				return
			}
			var be *export.BundleError
			if !errors.As(err, &be) || be.File != tt.file {
				t.Fatalf("VerifyBundle: %v; want a *BundleError about %q", err, tt.file)
			}
		})
	}
	if _, err := verify([]byte("not a zip"), l.vkey); !errors.Is(err, trail.ErrProofFailed) {
		t.Errorf("VerifyBundle(not a zip): %v, want an error wrapping ErrProofFailed", err)
	}
	if _, err := verify(writeZip(t, files), "not a key"); err == nil || errors.Is(err, trail.ErrProofFailed) {
		t.Errorf("VerifyBundle(bad trusted key): %v, want an error that is not ErrProofFailed", err)
	}
}

// A trusted key is used even when the bundle carries another.
func TestVerifyBundleIgnoresBundleKeyWhenTrusted(t *testing.T) {
	l := newTestLog(t, 3)
	files := readZip(t, writeBundle(t, l, l.events, ""))
	_, other := testKeys(t, 2)
	files[1].data = []byte(other + "\n")
	rep, err := verify(writeZip(t, files), l.vkey)
	if err != nil || !rep.KeyTrusted {
		t.Fatalf("VerifyBundle = %+v, %v; want a trusted report", rep, err)
	}
}

func TestBundleWriterRejects(t *testing.T) {
	l := newTestLog(t, 10)
	other := newTestLog(t, 10)
	other.events[2].Tenant = "beta"

	t.Run("NewBundle", func(t *testing.T) {
		_, otherKey := testKeys(t, 2)
		cpChanged := *l.cp
		cpChanged.Size = 9
		tests := []struct {
			name   string
			tenant string
			cp     *trail.Checkpoint
			key    string
			proofs export.ProofSource
		}{
			{"invalid tenant", "Acme!", l.cp, l.vkey, l.proofs},
			{"another tenant's checkpoint", "beta", l.cp, l.vkey, l.proofs},
			{"nil checkpoint", "acme", nil, l.vkey, l.proofs},
			{"nil proof source", "acme", l.cp, l.vkey, nil},
			{"bad key", "acme", l.cp, "nope", l.proofs},
			{"another key", "acme", l.cp, otherKey, l.proofs},
			{"fields differ from the note", "acme", &cpChanged, l.vkey, l.proofs},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tmp := t.TempDir()
				if _, err := export.NewBundle(io.Discard, tt.tenant, tt.cp, tt.key, tt.proofs, tmp, bundleTime, ""); err == nil {
					t.Fatal("NewBundle succeeded, want an error")
				}
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("NewBundle left %d temporary files", len(left))
				}
			})
		}
	})

	// Rejected events leave a valid bundle of the others.
	var buf bytes.Buffer
	calls := 0
	proofs := func(seq int64) (*trail.InclusionProof, error) {
		calls++
		switch seq {
		case 5:
			return nil, errors.New("disk on fire")
		case 6:
			return l.proofs(7)
		case 7:
			p, err := l.proofs(7)
			p.TreeSize = 8
			return p, err
		}
		return l.proofs(seq)
	}
	b, err := export.NewBundle(&buf, "acme", l.cp, l.vkey, proofs, t.TempDir(), bundleTime, "")
	if err != nil {
		t.Fatal(err)
	}
	bad := &trail.Event{Seq: 9, Tenant: "acme", Action: "a", Metadata: map[string]any{"x": struct{}{}}}
	wrongHash := *l.events[8]
	wrongHash.LeafHash = l.events[7].LeafHash
	tests := []struct {
		name string
		e    *trail.Event
		ok   bool
	}{
		{"seq 3", l.events[3], true},
		{"seq beyond the checkpoint", &trail.Event{Seq: 10, Tenant: "acme", Action: "a"}, false},
		{"negative seq", &trail.Event{Seq: -1, Tenant: "acme", Action: "a"}, false},
		{"seq repeated", l.events[3], false},
		{"seq going back", l.events[1], false},
		{"another tenant", other.events[2], false},
		{"seq 4", l.events[4], true},
		{"proof source fails", l.events[5], false},
		{"proof of another leaf", l.events[6], false},
		{"proof in another tree", l.events[7], false},
		{"leaf hash mismatch", &wrongHash, false},
		{"unencodable event", bad, false},
		{"seq 9", l.events[9], true},
	}
	for _, tt := range tests {
		if err := b.Write(tt.e); (err == nil) != tt.ok {
			t.Errorf("Write(%s) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(l.events[9]); err == nil {
		t.Error("Write after Close succeeded")
	}
	rep, err := verify(buf.Bytes(), l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 3 || rep.FirstSeq != 3 || rep.LastSeq != 9 {
		t.Errorf("report = %+v, want events 3, 4 and 9", rep)
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestBundleWriterWriteErrorIsPermanent(t *testing.T) {
	l := newTestLog(t, 2000)
	tmp := t.TempDir()
	b, err := export.NewBundle(&failWriter{n: 4096}, "acme", l.cp, l.vkey, l.proofs, tmp, bundleTime, "")
	if err != nil {
		t.Fatal(err)
	}
	var first error
	for _, e := range l.events {
		if first = b.Write(e); first != nil {
			break
		}
	}
	if first == nil {
		first = b.Close()
	}
	if first == nil {
		t.Fatal("no error writing 2000 events to a 4 KiB writer")
	}
	if err := b.Write(l.events[len(l.events)-1]); err == nil {
		t.Error("Write after a write error succeeded")
	}
	if err := b.Close(); err == nil {
		t.Error("Close after a write error succeeded")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %d temporary files", len(left))
	}
}
