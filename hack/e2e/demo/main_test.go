//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository root, two directories up from this package.
const root = "../../.."

// TestDemoIdentity checks that the committed demo files fit together: the
// config pins exactly ca.pem, the server certificate chains to it for the
// addresses guest and host use, and the key belongs to the certificate.
func TestDemoIdentity(t *testing.T) {
	dir := filepath.Join(root, demoDir)
	cfg, port, err := readConfig(filepath.Join(root, demoConfig))
	if err != nil {
		t.Fatal(err)
	}
	if port != 8443 || cfg.Broker.URL != "https://10.0.2.2:8443" {
		t.Errorf("broker %q (port %d), want https://10.0.2.2:8443", cfg.Broker.URL, port)
	}
	if cfg.Attestation.Provider != "emulated" || cfg.Network.Mode != "static" || cfg.Network.Address != "10.0.2.15/24" {
		t.Errorf("provider %q, network %+v: want emulated, static 10.0.2.15/24", cfg.Attestation.Provider, cfg.Network)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cfg.Broker.CAPEM) != strings.TrimSpace(string(ca)) {
		t.Errorf("%s broker.ca_pem differs from %s/ca.pem", demoConfig, demoDir)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatalf("server.pem and server-key.pem: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in ca.pem")
	}
	for _, host := range []string{"10.0.2.2", "127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
}

func TestReadConfigNeedsPort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, demoConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"no port", "https://10.0.2.2:8443", "https://10.0.2.2"},
		{"bad uuid", "0de0c0de-0000-4000-8000-00000000de00", "not-a-uuid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, bytes.Replace(b, []byte(tc.from), []byte(tc.to), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := readConfig(p); err == nil {
				t.Errorf("readConfig accepted a config with %s", tc.name)
			}
		})
	}
}

func TestPrefixer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   string
	}{
		{"split lines", []string{"ab", "c\r\nd", "e\n"}, "  | abc\n  | de\n"},
		{"seabios clear screen", []string{"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1)\r\n"},
			"  | SeaBIOS (version 1)\n"},
		{"controls dropped, tab kept", []string{"a\x00b\x07\tc\x7f\n"}, "  | ab\tc\n"},
		{"unterminated tail", []string{"x\ny"}, "  | x\n  | y\n"},
		{"escape at end", []string{"z\x1b"}, "  | z\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := &prefixer{w: &out}
			for _, c := range tc.chunks {
				if n, err := p.Write([]byte(c)); err != nil || n != len(c) {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			p.flush()
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestTailCopiesEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.log")
	var out bytes.Buffer
	stop := tail(path, &out) // the file does not exist yet
	if err := os.WriteFile(path, []byte("one\ntwo"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop()
	if want := "  | one\n  | two\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestPrependComment(t *testing.T) {
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prependComment(p, "x\ny"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# x\n# y\na: 1\n" {
		t.Errorf("got %q", b)
	}
}
