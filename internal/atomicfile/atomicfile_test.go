package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f.json")
	for _, content := range []string{"one", "two, longer"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (no temporaries left)", len(entries))
	}
}

func TestReadJSON(t *testing.T) {
	dir := t.TempDir()
	type doc struct {
		Version int      `json:"version"`
		Names   []string `json:"names"`
	}
	var d doc
	if found, err := ReadJSON(filepath.Join(dir, "missing.json"), 1, &d); found || err != nil {
		t.Fatalf("missing file: found %v, err %v; want false, nil", found, err)
	}
	path := filepath.Join(dir, "doc.json")
	if err := WriteFile(path, []byte(`{"version":1,"names":["a","b"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if found, err := ReadJSON(path, 1, &d); !found || err != nil || len(d.Names) != 2 {
		t.Fatalf("ReadJSON = %v, %v, %+v", found, err, d)
	}
	if _, err := ReadJSON(path, 2, &d); err == nil || !strings.Contains(err.Error(), "version 1, want 2") || !strings.Contains(err.Error(), path) {
		t.Fatalf("wrong version: err %v, want one naming the file and both versions", err)
	}
	if err := WriteFile(path, []byte(`{"version":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJSON(path, 1, &d); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("malformed: err %v, want one naming the file", err)
	}
}
