package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/merkle"
	"github.com/trail-audit/trail/pgstore"
)

// runVerify checks, offline, a data directory (--data) or a bundle
// (--bundle), or watches a live server (--server) for consistency.
// Exit code 3 means damage or an inconsistency was found.
func runVerify(ctx context.Context, args []string, e env) int {
	fs := newFlags("verify", e)
	data := fs.String("data", "", "data directory of a stopped server to deep-verify")
	bundle := fs.String("bundle", "", "bundle (zip) to verify offline")
	pg := fs.String("postgres", "", "PostgreSQL connection string of a trail database to deep-verify")
	keyFile := fs.String("encryption-key-file", "", "data mode: keys of a store encrypted at rest (or TRAIL_ENCRYPTION_KEY)")
	keyArg := fs.String("verifier-key", "", "verifier key, or a file holding it (bundle, postgres and live modes)")
	co := &clientOpts{}
	fs.StringVar(&co.server, "server", "", "live mode: trail server URL to watch")
	fs.StringVar(&co.key, "key", "", "live mode: API key")
	fs.StringVar(&co.tenant, "tenant", "default", "live mode: tenant whose log to watch")
	interval := fs.Duration("interval", 10*time.Second, "live mode: time between checks")
	count := fs.Int("count", 0, "live mode: number of checks (0 = until interrupted)")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	key, err := readKeyArg(*keyArg)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify: --verifier-key:", err)
		return exitUsage
	}
	switch {
	case *data != "":
		ring, err := loadKeyring(*keyFile, e.getenv("TRAIL_ENCRYPTION_KEY"))
		if err != nil {
			fmt.Fprintln(e.stderr, "trail verify:", err)
			return exitUsage
		}
		return verifyData(ctx, *data, ring, e)
	case *bundle != "":
		return verifyBundle(*bundle, key, e)
	case *pg != "":
		return verifyPostgres(ctx, *pg, key, e)
	case co.server != "":
		return verifyLive(ctx, co, co.tenant, key, *interval, *count, e)
	}
	fmt.Fprintln(e.stderr, "trail verify: give --data DIR, --postgres DSN, --bundle FILE or --server URL")
	return exitUsage
}

func readKeyArg(arg string) (string, error) {
	if arg == "" {
		return "", nil
	}
	if _, err := note.NewVerifier(arg); err == nil {
		return arg, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return "", err
	}
	k := strings.TrimSpace(string(b))
	if _, err := note.NewVerifier(k); err != nil {
		return "", fmt.Errorf("%s does not hold a note verifier key: %v", arg, err)
	}
	return k, nil
}

func verifyData(ctx context.Context, dir string, ring *keyring.Ring, e env) int {
	signer, verifier, err := checkpoint.LoadKeyFile(filepath.Join(dir, "signing.key"))
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	start := time.Now()
	s, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "store"), Signer: signer, Verifier: verifier, ServerName: signer.Name(), Encryption: ring})
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	defer s.Close()
	return reportVerify(ctx, s, start, e)
}

// reportVerify runs a store's deep verification and prints the outcome.
func reportVerify(ctx context.Context, s trail.Store, start time.Time, e env) int {
	rep, err := s.Verify(ctx)
	var te *trail.TamperError
	if errors.As(err, &te) {
		fmt.Fprintf(e.stdout, "FAILED: %v\n", te)
		return exitTampered
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "OK: %d tenants, %d events (%d erased), %d checkpoints verified in %s\n",
		rep.Tenants, rep.Events, rep.Erased, rep.Checkpoints, time.Since(start).Round(time.Millisecond))
	return exitOK
}

// verifyPostgres deep-verifies a trail database: every row, tile and
// checkpoint, against key or, without one, the key the database records.
func verifyPostgres(ctx context.Context, dsn, key string, e env) int {
	trusted := key != ""
	if !trusted {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			fmt.Fprintln(e.stderr, "trail verify: --postgres:", err)
			return exitFailure
		}
		key, err = pgstore.StoredVerifierKey(ctx, conn)
		conn.Close(context.Background())
		if err != nil {
			fmt.Fprintln(e.stderr, "trail verify:", err)
			return exitFailure
		}
		if key == "" {
			fmt.Fprintln(e.stderr, "trail verify: the database records no verifier key: pass --verifier-key")
			return exitUsage
		}
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify: --verifier-key:", err)
		return exitUsage
	}
	start := time.Now()
	s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, Verifier: verifier, ServerName: verifier.Name()})
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	defer s.Close()
	code := reportVerify(ctx, s, start, e)
	if code == exitOK && !trusted {
		fmt.Fprintln(e.stdout, "WARNING: checked with the key the database records; pass --verifier-key to check against a key you trust")
	}
	return code
}

func verifyBundle(path, key string, e env) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitFailure
	}
	rep, err := export.VerifyBundle(f, st.Size(), key)
	if err != nil {
		fmt.Fprintf(e.stdout, "FAILED: %v\n", err)
		return exitTampered
	}
	fmt.Fprintf(e.stdout, "OK: %d events (seq %d–%d) of tenant %s are in the signed tree of size %d (%s)\n",
		rep.Events, rep.FirstSeq, rep.LastSeq, rep.Tenant, rep.TreeSize, rep.Origin)
	if !rep.KeyTrusted {
		fmt.Fprintln(e.stdout, "WARNING: checked with the key inside the bundle; pass --verifier-key to check against a key you trust")
	}
	return exitOK
}

// verifyLive fetches the tenant's checkpoint repeatedly and checks each
// against the previous one with a consistency proof: a server that ever
// rewrites or drops history is caught.
func verifyLive(ctx context.Context, co *clientOpts, tenant, key string, interval time.Duration, count int, e env) int {
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify:", err)
		return exitUsage
	}
	if key == "" {
		resp, err := c.do(ctx, http.MethodGet, "/v1/log/key", nil, nil, "")
		if err != nil {
			fmt.Fprintln(e.stderr, "trail verify:", err)
			return exitFailure
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		key = strings.TrimSpace(string(b))
		fmt.Fprintln(e.stderr, "trail verify: using the server's own key; pass --verifier-key to pin a trusted one")
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail verify: verifier key:", err)
		return exitUsage
	}
	var prev *checkpoint.Checkpoint
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return exitOK
			case <-time.After(interval):
			}
		}
		q := map[string][]string{"tenant": {tenant}}
		resp, err := c.do(ctx, http.MethodGet, "/v1/log/checkpoint", q, nil, "")
		if err != nil {
			fmt.Fprintln(e.stderr, "trail verify:", err)
			return exitFailure
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cp, err := checkpoint.Open(msg, v)
		if err != nil {
			fmt.Fprintf(e.stdout, "FAILED: checkpoint signature: %v\n", err)
			return exitTampered
		}
		if prev != nil {
			if cp.Size < prev.Size {
				fmt.Fprintf(e.stdout, "FAILED: tree shrank from %d to %d\n", prev.Size, cp.Size)
				return exitTampered
			}
			var proof trail.ConsistencyProof
			qq := map[string][]string{"tenant": {tenant}, "from": {strconv.FormatInt(prev.Size, 10)}, "to": {strconv.FormatInt(cp.Size, 10)}}
			if err := c.getJSON(ctx, "/v1/log/proof/consistency", qq, &proof); err != nil {
				fmt.Fprintln(e.stderr, "trail verify:", err)
				return exitFailure
			}
			hs := make([]merkle.Hash, len(proof.Hashes))
			for j, h := range proof.Hashes {
				hs[j] = merkle.Hash(h)
			}
			if prev.Size > 0 && prev.Size != cp.Size {
				if err := merkle.VerifyConsistency(prev.Size, cp.Size, hs, prev.Root, cp.Root); err != nil {
					fmt.Fprintf(e.stdout, "FAILED: tree of size %d is not an extension of size %d: %v\n", cp.Size, prev.Size, err)
					return exitTampered
				}
			} else if prev.Size == cp.Size && prev.Root != cp.Root {
				fmt.Fprintf(e.stdout, "FAILED: two different roots for size %d\n", cp.Size)
				return exitTampered
			}
		}
		fmt.Fprintf(e.stdout, "OK %s size %d root %s\n", time.Now().UTC().Format(time.RFC3339), cp.Size, trail.Hash(cp.Root))
		prev = &cp
	}
	return exitOK
}
