package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// policyYAML is a complete policy (every key check-policy requires) with
// the given extra lines appended to the attestation mapping.
func policyYAML(extra string) string {
	return "attestation:\n  trust_amd_roots: true\n  insecure_skip_revocation: true\n" +
		"  min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115}\n  allow_smt: true\n  vmpl: 0\n" +
		"  min_report_version: 3\n  permit_provisional_firmware: false\n" + extra
}

func writeTest(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckPolicy(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Add("default/disk/root", []byte("s"), nil); err != nil {
		t.Fatal(err)
	}
	good := writeTest(t, dir, "good.yaml", policyYAML(""))
	for _, c := range []struct {
		name string
		args []string
		code int
		out  string // in stdout (code 0) or stderr
	}{
		{"complete", []string{good}, 0, "WARNING: INSECURE: insecure_skip_revocation"},
		{"unset key", []string{writeTest(t, dir, "nosmt.yaml", strings.Replace(policyYAML(""), "  allow_smt: true\n", "", 1))},
			1, "attestation.allow_smt: not set"},
		{"debug", []string{writeTest(t, dir, "debug.yaml", policyYAML("  allow_debug: true\n"))}, 1, "allow_debug"},
		{"store resource nobody may get", []string{"--store", filepath.Join(dir, "store"), good}, 1,
			"resource default/disk/root: no measurement may obtain it"},
		{"missing store", []string{"--store", filepath.Join(dir, "nope"), good}, 1, "store:"},
		{"no file", nil, 2, "exactly one policy file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"check-policy"}, c.args...), &stdout, &stderr)
			got := stdout.String()
			if code != 0 {
				got = stderr.String()
			}
			if code != c.code || !strings.Contains(got, c.out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", code, stdout.String(), stderr.String(), c.code, c.out)
			}
			if code != 0 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("error not one line: %q", stderr.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
		t.Error("check-policy created the missing store")
	}
}

// TestServe runs `keybroker serve` in-process over TLS: it answers, serves
// metrics on its own address, reloads the policy on SIGHUP (keeping the old
// one when the new file is bad) and shuts down cleanly.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	if err := genCA([]string{"--dir", filepath.Join(dir, "ca")}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := genCert([]string{"--ca-dir", filepath.Join(dir, "ca"), "--out", filepath.Join(dir, "tls"), "--hosts", "127.0.0.1"},
		io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	policy := writeTest(t, dir, "policy.yaml", policyYAML(""))
	addr, maddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--policy", policy, "--store", filepath.Join(dir, "store"), "--listen", addr,
			"--tls-dir", filepath.Join(dir, "tls"), "--metrics-listen", maddr, "--audit-log", filepath.Join(dir, "audit.jsonl")},
			&logs, &logs)
	}()
	client := tlsClient(t, filepath.Join(dir, "ca", "ca.pem"))
	waitFor(t, func() bool { return status(client, "https://"+addr+"/healthz") == 200 }, &logs)
	if code := status(client, "https://"+addr+"/kbs/v0/resource/default/disk/root"); code != 401 {
		t.Errorf("resource without a session: %d, want 401", code)
	}
	writeTest(t, dir, "policy.yaml", "attestation: {}\n") // bad: the reload must be refused
	hup(t)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "policy reload refused") }, &logs)
	writeTest(t, dir, "policy.yaml", policyYAML(""))
	hup(t)
	waitFor(t, func() bool {
		m := body(http.DefaultClient, "http://"+maddr+"/metrics")
		return strings.Contains(m, `keybroker_policy_reloads_total{result="ok"} 1`)
	}, &logs)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	audit, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil || !strings.Contains(string(audit), `"reason":"no_session"`) {
		t.Errorf("audit log %q (%v) lacks the refusal", audit, err)
	}
}

func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func status(c *http.Client, url string) int {
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func body(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitFor(t *testing.T, cond func() bool, logs fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("condition not met in 10 s; logs:\n%s", logs)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
