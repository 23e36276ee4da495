package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trail-audit/trail/keyring"
)

// TestServeEncrypted serves with --encryption-key-file: no stored file
// holds an event's distinctive string, a wrong key refuses to open with a
// clear error, and trail verify --data needs and accepts the keys.
func TestServeEncrypted(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	writeKey := func(name, id string) string {
		line, err := keyring.Generate(rand.Reader, id)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(keys, name)
		if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good, wrong := writeKey("good", "k1"), writeKey("wrong", "k1")
	const opKey = "operator-key-for-encryption-0123456789"
	cfg := ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "enc.test", BootstrapKey: opKey, AutoTenants: true, EncryptionKeyFile: good}
	s, stop := startServer(t, cfg, io.Discard)
	const marker = "zebra-quartz-marker-7731"
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	if code, _, errOut := runCmd(t, vars, `{"action":"doc.read","actor":{"id":"u1"},"reason":"`+marker+`"}`, "ingest", "--tenant", "acme"); code != exitOK {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	stop()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s holds the event in plaintext", path)
		}
		return nil
	})
	cfg.EncryptionKeyFile = wrong
	if _, err := OpenServer(cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "k1") {
		t.Fatalf("open with a wrong key: %v, want a clear refusal naming the key", err)
	}
	if code, out, errOut := runCmd(t, nil, "", "verify", "--data", dir, "--encryption-key-file", good); code != exitOK {
		t.Fatalf("verify with the keys: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "", "verify", "--data", dir); code == exitOK || !strings.Contains(errOut, "keyring") {
		t.Fatalf("verify without the keys: exit %d: %s", code, errOut)
	}
}
