//go:build linux

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// startupTimeout bounds how long a helper may take to start listening.
const startupTimeout = 10 * time.Second

// TLSInit makes a broker CA and a server certificate in dir for the
// addresses the guest (10.0.2.2) and the host (127.0.0.1) use, with
// `keybroker gen-ca` and `gen-cert`, and returns the CA certificate PEM the
// guest config pins.
func TLSInit(ctx context.Context, b Binaries, dir string) (string, error) {
	if _, err := runTool(ctx, "", b.Keybroker, "gen-ca", "--dir", dir); err != nil {
		return "", err
	}
	if _, err := runTool(ctx, "", b.Keybroker, "gen-cert", "--ca-dir", dir, "--out", dir,
		"--hosts", "10.0.2.2,127.0.0.1"); err != nil {
		return "", err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	return string(ca), err
}

// Policy is what the e2e tests set up in a broker: only the emulator's
// chain is trusted (never AMD's roots), and each resource is released to the
// listed digests only.
type Policy struct {
	Measurements []string
	EmulatorRoot string            // snpemu's cert_chain.pem
	Resources    map[string]string // resource path -> secret file
}

// StoreFor is the resource store that belongs to the policy file path.
func StoreFor(policy string) string { return strings.TrimSuffix(policy, ".yaml") + "-store" }

// Write writes p as the broker's policy YAML at path and puts each resource
// into the store StoreFor(path) with `keybroker resource add`, allowed to
// p.Measurements.
func (p Policy) Write(ctx context.Context, b Binaries, path string) error {
	by, err := yaml.Marshal(map[string]any{"attestation": map[string]any{
		"trust_amd_roots":             false,
		"extra_roots":                 []string{p.EmulatorRoot},
		"insecure_non_amd_roots":      true, // the emulator's chain proves nothing about hardware
		"insecure_skip_revocation":    true, // and publishes no CRL
		"min_tcb":                     map[string]int{"bootloader": 0, "tee": 0, "snp": 0, "microcode": 0},
		"allow_smt":                   true,
		"vmpl":                        0,
		"min_report_version":          2,
		"permit_provisional_firmware": true,
	}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, by, 0o600); err != nil {
		return err
	}
	store := StoreFor(path)
	if err := os.RemoveAll(store); err != nil {
		return err
	}
	for name, file := range p.Resources {
		args := []string{"resource", "add", "--store", store, "--path", name, "--secret-file", file}
		for _, m := range p.Measurements {
			args = append(args, "--measurement", m)
		}
		if _, err := runTool(ctx, "", b.Keybroker, args...); err != nil {
			return err
		}
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartBroker starts `keybroker serve` on 127.0.0.1:port, with the store
// that belongs to policy and its audit log in the file audit, and waits until
// it completes a TLS handshake under the CA in tlsDir.
func StartBroker(ctx context.Context, b Binaries, policy, tlsDir string, port int, audit string, log io.Writer) (*Proc, error) {
	ca, err := os.ReadFile(filepath.Join(tlsDir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s/ca.pem", tlsDir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := StartProc(b.Keybroker, []string{"serve", "--policy", policy, "--store", StoreFor(policy),
		"--listen", addr, "--tls-dir", tlsDir, "--metrics-listen", "", "--audit-log", audit},
		ProcIO{Stdout: log, Stderr: log})
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	err = waitStarted(ctx, p, "keybroker on "+addr, func() error {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: cfg}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return p, err
}

// EmuInit creates the emulated AMD chain in state (`snpemu init`).
func EmuInit(ctx context.Context, b Binaries, state string) error {
	_, err := runTool(ctx, "", b.Snpemu, "init", "--state", state)
	return err
}

// EmuChain is the chain file of an snpemu state directory that the broker
// policy trusts.
func EmuChain(state string) string { return filepath.Join(state, "cert_chain.pem") }

// StartEmu starts `snpemu serve` measuring l on the unix socket sock and
// waits until the socket exists.
func StartEmu(ctx context.Context, b Binaries, state, sock string, l Launch, log io.Writer) (*Proc, error) {
	args := append([]string{"serve", "--state", state, "--socket", sock}, l.Args()...)
	p, err := StartProc(b.Snpemu, args, ProcIO{Stdout: log, Stderr: log})
	if err != nil {
		return nil, err
	}
	err = waitStarted(ctx, p, "snpemu on "+sock, func() error {
		_, err := os.Stat(sock)
		return err
	})
	return p, err
}

// waitStarted waits until ready succeeds; if p exits first or the wait
// times out, p is stopped and the error says so.
func waitStarted(ctx context.Context, p *Proc, what string, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	err := waitFor(ctx, what, func() error {
		select {
		case <-p.Done():
			return fmt.Errorf("%w: exited: %v", errGiveUp, p.Err())
		default:
			return ready()
		}
	})
	if err != nil {
		p.Stop()
	}
	return err
}

func swtpmSocket(dir string) string { return filepath.Join(dir, "swtpm.sock") }

// StartSwtpm starts a TPM 2.0 emulator with fresh state in dir for QEMU's
// tpm-emulator backend (`swtpm socket --tpm2`, control channel on a unix
// socket; QEMU initializes the TPM) and waits until the socket exists.
func StartSwtpm(ctx context.Context, t Tools, dir string, log io.Writer) (*Proc, error) {
	state := filepath.Join(dir, "tpm")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	sock := swtpmSocket(dir)
	p, err := StartProc(t.Swtpm, []string{"socket", "--tpm2", "--tpmstate", "dir=" + state,
		"--ctrl", "type=unixio,path=" + sock, "--log", "level=1"}, ProcIO{Stdout: log, Stderr: log})
	if err != nil {
		return nil, err
	}
	err = waitStarted(ctx, p, "swtpm on "+sock, func() error {
		_, err := os.Stat(sock)
		return err
	})
	return p, err
}
