package sink_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail/sink"
)

// requireRsyslog returns the path of rsyslogd. Tests that need it skip
// unless TRAIL_TEST_RSYSLOG is set, and fail when it is set but rsyslogd
// is missing.
func requireRsyslog(t *testing.T) string {
	t.Helper()
	if os.Getenv("TRAIL_TEST_RSYSLOG") == "" {
		t.Skip("set TRAIL_TEST_RSYSLOG=1 to run against a private rsyslogd (apt-get install rsyslog rsyslog-gnutls)")
	}
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("TRAIL_TEST_RSYSLOG is set but rsyslogd is not installed")
	return ""
}

// gtlsAvailable reports whether rsyslog's GnuTLS stream driver is installed.
func gtlsAvailable() bool {
	m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	m2, _ := filepath.Glob("/usr/lib*/rsyslog/lmnsd_gtls.so")
	return len(m)+len(m2) > 0
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// parsed is what rsyslog parsed out of one message, written by omfile.
type parsed struct {
	Facility string `json:"fac"`
	Severity string `json:"sev"`
	Time     string `json:"time"`
	Host     string `json:"host"`
	App      string `json:"app"`
	MsgID    string `json:"msgid"`
	SD       string `json:"sd"`
	Msg      string `json:"msg"`
}

// startRsyslog runs a private rsyslogd with an imtcp listener (TLS when
// tlsDir holds ca.pem, cert.pem and key.pem) that writes every message it
// parsed, as JSON, to the returned file.
func startRsyslog(t *testing.T, bin string, tlsDir string) (addr, out string) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	out = filepath.Join(dir, "out.json")
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q maxMessageSize=\"64k\"", dir)
	if tlsDir != "" {
		fmt.Fprintf(&conf, " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem"))
	}
	conf.WriteString(")\n")
	if tlsDir != "" {
		conf.WriteString("module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n")
	} else {
		conf.WriteString("module(load=\"imtcp\")\n")
	}
	fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" supportOctetCountedFraming=\"on\")\n", port)
	conf.WriteString(`template(name="parsed" type="list" option.jsonf="on") {
  property(outname="fac" name="syslogfacility" format="jsonf")
  property(outname="sev" name="syslogseverity" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
`)
	fmt.Fprintf(&conf, "action(type=\"omfile\" file=%q template=\"parsed\" flushOnTXEnd=\"on\" asyncWriting=\"off\")\n", out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd config:\n%s\nrsyslogd output:\n%s", conf.String(), stderr.String())
		}
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitFor(t, "rsyslogd listening", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, out
}

// readParsed returns the messages rsyslogd has written to path so far. A
// last line without its newline is still being written and is left for the
// next read.
func readParsed(t *testing.T, path string) []parsed {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var ps []parsed
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var p parsed
		if err := json.Unmarshal(line, &p); err != nil {
			t.Fatalf("rsyslog output line %q: %v", line, err)
		}
		ps = append(ps, p)
	}
	return ps
}

// writeCert writes a self-signed CA-capable certificate for 127.0.0.1 and
// localhost and its key to dir as ca.pem, cert.pem and key.pem.
func writeCert(t *testing.T, dir string) (certPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	for name, b := range map[string][]byte{"ca.pem": []byte(certPEM), "cert.pem": []byte(certPEM), "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certPEM
}

func TestSyslogRsyslog(t *testing.T) {
	bin := requireRsyslog(t)
	tests := []struct {
		name   string
		tls    bool
		format sink.Format
	}{
		{"tcp json", false, sink.FormatJSON},
		{"tcp cef", false, sink.FormatCEF},
		{"tls json", true, sink.FormatJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sink.Sink{ID: "sl", Tenant: "acme", Name: "syslog", Type: sink.TypeSyslog, Format: tt.format, Hostname: "trail-test", BatchSize: 16}
			tlsDir := ""
			if tt.tls {
				if !gtlsAvailable() {
					t.Skip("rsyslog's gtls driver is not installed (apt-get install rsyslog-gnutls)")
				}
				tlsDir = t.TempDir()
				cfg.TLS = &sink.TLS{CA: writeCert(t, tlsDir), ServerName: "localhost"}
			}
			addr, out := startRsyslog(t, bin, tlsDir)
			cfg.Address = addr
			st := openStore(t)
			ids := appendN(t, st, "acme", "user.login", 0, 40)
			r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
			waitFor(t, "delivery", 10*time.Second, func() bool { return r.Status().Cursor == 40 })
			var ps []parsed
			waitFor(t, "rsyslog output", 10*time.Second, func() bool { ps = readParsed(t, out); return len(ps) >= 40 })
			if len(ps) != 40 {
				t.Fatalf("rsyslog wrote %d messages, want 40", len(ps))
			}
			for i, p := range ps {
				wantSD := fmt.Sprintf(`[trail@32473 tenant="acme" seq="%d" id="%s"]`, i, ids[i])
				if p.Facility != "13" || p.Severity != "6" || p.Host != "trail-test" || p.App != "trail" || p.MsgID != "user.login" || p.SD != wantSD {
					t.Fatalf("message %d parsed as %+v, want facility 13, severity 6, host trail-test, app trail, msgid user.login, sd %s", i, p, wantSD)
				}
				if _, err := time.Parse(time.RFC3339, p.Time); err != nil {
					t.Errorf("message %d: time %q: %v", i, p.Time, err)
				}
				msg := strings.TrimSpace(p.Msg)
				switch tt.format {
				case sink.FormatJSON:
					var e struct {
						ID  string `json:"id"`
						Seq int64  `json:"seq"`
					}
					if err := json.Unmarshal([]byte(msg), &e); err != nil || e.ID != ids[i] || e.Seq != int64(i) {
						t.Fatalf("message %d: msg %q is not the event JSON (%v)", i, msg, err)
					}
				case sink.FormatCEF:
					want := "CEF:0|trail|trail|1|user.login|user.login|1|externalId=" + ids[i] + " "
					if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "cn1="+strconv.Itoa(i)) || !strings.Contains(msg, "src=10.0.0.1") {
						t.Fatalf("message %d: CEF %q, want prefix %q, cn1=%d and src", i, msg, want, i)
					}
				}
			}
		})
	}
}

// TestSyslogReconnects checks that a syslog sink whose server went away
// retries and then delivers to the server when it is back.
func TestSyslogReconnects(t *testing.T) {
	st := openStore(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := sink.Sink{ID: "sl", Tenant: "acme", Name: "syslog", Type: sink.TypeSyslog, Address: addr}
	appendN(t, st, "acme", "doc.read", 0, 5)
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	waitFor(t, "retrying", 5*time.Second, func() bool { return r.Status().Failures >= 2 })
	if s := r.Status(); s.Cursor != 0 || !strings.Contains(s.LastError, "refused") {
		t.Errorf("status %+v, want cursor 0 and connection refused", s)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var msgs []string
		for len(msgs) < 5 {
			n, err := br.ReadString(' ')
			if err != nil {
				break
			}
			size, _ := strconv.Atoi(strings.TrimSpace(n))
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				break
			}
			msgs = append(msgs, string(b))
		}
		got <- msgs
	}()
	select {
	case msgs := <-got:
		if len(msgs) != 5 || !strings.HasPrefix(msgs[0], "<110>1 ") {
			t.Fatalf("got %d framed messages, first %q; want 5 starting <110>1", len(msgs), msgs[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no messages after the server came back")
	}
	waitFor(t, "cursor", 5*time.Second, func() bool { return r.Status().Cursor == 5 })
}
