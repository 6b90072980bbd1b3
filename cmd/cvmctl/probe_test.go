package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

// TestProbe runs cvmctl probe against an in-process broker over loopback TLS
// and an emulator on a unix socket: released for the allowed measurement,
// refused (exit 1, one line) for another, and the secret never printed.
func TestProbe(t *testing.T) {
	dir := t.TempDir()
	if err := emu.InitWith(filepath.Join(dir, "snp"), emu.InitOptions{RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	secret := []byte("probe-canary-secret-0123456789ab")
	allowed := [48]byte{7, 47: 7}
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Add("default/disk/root", secret, []string{hex.EncodeToString(allowed[:])}); err != nil {
		t.Fatal(err)
	}
	policy := "attestation:\n  trust_amd_roots: false\n  extra_roots: [snp/" + emu.CertChainFile + "]\n" +
		"  insecure_non_amd_roots: true\n  insecure_skip_revocation: true\n" +
		"  min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n  allow_smt: true\n  vmpl: 0\n" +
		"  min_report_version: 2\n  permit_provisional_firmware: true\n"
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := broker.LoadPolicy(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{Policy: p, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(b.Handler())
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	for _, tc := range []struct {
		name        string
		measurement [48]byte
		code        int
		out         string
	}{
		{"allowed", allowed, 0, "released: default/disk/root (32 bytes"},
		{"other launch", [48]byte{8}, 1, "attestation refused: measurement_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := startEmulator(t, filepath.Join(dir, "snp"), tc.measurement)
			var stdout, stderr bytes.Buffer
			code := run([]string{"probe", "--broker", srv.URL, "--ca", ca, "--snpemu", sock}, &stdout, &stderr)
			all := stdout.String() + stderr.String()
			if code != tc.code || !strings.Contains(all, tc.out) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, all, tc.code, tc.out)
			}
			if strings.Count(stderr.String(), "\n") > 1 || strings.Contains(all, string(secret)) ||
				strings.Contains(all, hex.EncodeToString(secret)) {
				t.Fatalf("output not one line or shows the secret: %q", all)
			}
		})
	}
}

func startEmulator(t *testing.T, state string, m [48]byte) string {
	st, err := emu.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	s, err := emu.NewServer(st, emu.Config{Measurement: m})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "snp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ln.Close() })
	go s.Serve(ctx, ln)
	return sock
}

func TestProbeUsage(t *testing.T) {
	for _, args := range [][]string{{"probe"}, {"probe", "--broker", "https://x"}, {"probe", "--bogus"},
		{"probe", "--broker", "https://x", "--snpemu", "s", "extra"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, stderr.String())
		}
	}
}
