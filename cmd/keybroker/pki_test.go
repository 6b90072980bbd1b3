package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pkiRun runs a PKI command and returns its stdout.
func pkiRun(t *testing.T, cmd func([]string, io.Writer, io.Writer) error, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmd(args, &out, &errOut)
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	return out.String(), err
}

// newCA makes a CA in a fresh directory and returns the directory.
func newCA(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := pkiRun(t, genCA, append([]string{"--dir", dir}, args...)...); err != nil {
		t.Fatalf("gen-ca: %v", err)
	}
	return dir
}

// newCert issues a server certificate from caDir and returns the output directory.
func newCert(t *testing.T, caDir, hosts string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tls")
	if _, err := pkiRun(t, genCert, "--ca-dir", caDir, "--out", out, "--hosts", hosts); err != nil {
		t.Fatalf("gen-cert: %v", err)
	}
	return out
}

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func poolOf(t *testing.T, caDir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(readPEMCert(t, filepath.Join(caDir, "ca.pem")))
	return pool
}

func TestGenCAProperties(t *testing.T) {
	before := time.Now()
	dir := newCA(t, "--name", "test CA", "--days", "30")
	ca := readPEMCert(t, filepath.Join(dir, "ca.pem"))
	if !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero || ca.MaxPathLen != 0 {
		t.Errorf("CA constraints: IsCA=%v valid=%v maxPathLen=%d zero=%v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v, want CertSign|CRLSign", ca.KeyUsage)
	}
	if ca.Subject.CommonName != "test CA" {
		t.Errorf("CN = %q", ca.Subject.CommonName)
	}
	if ca.SerialNumber.Sign() <= 0 || ca.SerialNumber.BitLen() > 127 {
		t.Errorf("serial %v is not a positive 127-bit number", ca.SerialNumber)
	}
	if d := before.Sub(ca.NotBefore); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("NotBefore is %v before now, want about 1h", d)
	}
	if want := before.AddDate(0, 0, 30); ca.NotAfter.Sub(want).Abs() > time.Minute {
		t.Errorf("NotAfter = %v, want about %v", ca.NotAfter, want)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
}

func TestGenCertVerifiesForEachSAN(t *testing.T) {
	caDir := newCA(t)
	out := newCert(t, caDir, "127.0.0.1, 10.0.2.2,::1,broker.example.com,Other.Example.ORG")
	leaf := readPEMCert(t, filepath.Join(out, "server.pem"))
	opts := x509.VerifyOptions{Roots: poolOf(t, caDir), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, name := range []string{"127.0.0.1", "10.0.2.2", "::1", "broker.example.com", "other.example.org"} {
		opts.DNSName = name
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	for _, name := range []string{"10.0.2.3", "evil.example.com", "localhost", "example.com"} {
		opts.DNSName = name
		if _, err := leaf.Verify(opts); err == nil {
			t.Errorf("verify for %s succeeded; it is not a SAN", name)
		}
	}
	if len(leaf.IPAddresses) != 3 || len(leaf.DNSNames) != 2 {
		t.Errorf("SANs: IPs %v, DNS %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if leaf.IsCA {
		t.Error("server certificate is a CA")
	}
	opts.DNSName, opts.Roots = "127.0.0.1", poolOf(t, newCA(t))
	if _, err := leaf.Verify(opts); err == nil {
		t.Error("server certificate verifies against an unrelated CA")
	}
}

// handshake serves certDir's server certificate on loopback and dials it
// pinning only caDir's ca.pem; it returns the client's handshake error.
func handshake(t *testing.T, certDir, caDir string) error {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "server.pem"), filepath.Join(certDir, "server-key.pem"))
	if err != nil {
		t.Fatalf("loading key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: poolOf(t, caDir), MinVersion: tls.VersionTLS13})
	if err == nil {
		c.Close()
	}
	return err
}

func TestTLSHandshakeLoopback(t *testing.T) {
	caDir := newCA(t)
	if err := handshake(t, newCert(t, caDir, "127.0.0.1"), caDir); err != nil {
		t.Fatalf("handshake with pinned CA: %v", err)
	}
	foreign := newCert(t, newCA(t), "127.0.0.1")
	err := handshake(t, foreign, caDir)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("handshake with a certificate from another CA: got %v, want unknown authority", err)
	}
	err = handshake(t, newCert(t, caDir, "10.0.2.2"), caDir)
	var wrongHost x509.HostnameError
	if !errors.As(err, &wrongHost) {
		t.Fatalf("handshake with a certificate for another address: got %v, want hostname error", err)
	}
}

func TestFileModes(t *testing.T) {
	caDir := newCA(t)
	out := newCert(t, caDir, "127.0.0.1")
	want := map[string]fs.FileMode{caDir: fs.ModeDir | 0o700, out: fs.ModeDir | 0o700,
		filepath.Join(caDir, "ca.pem"): 0o644, filepath.Join(caDir, "ca-key.pem"): 0o600,
		filepath.Join(out, "server.pem"): 0o644, filepath.Join(out, "server-key.pem"): 0o600}
	for p, m := range want {
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode() != m {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), m)
		}
	}
	// --force replaces a world-readable key file with a 0600 one.
	key := filepath.Join(out, "server-key.pem")
	if err := os.Chmod(key, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := pkiRun(t, genCert, "--ca-dir", caDir, "--out", out, "--hosts", "127.0.0.1", "--force"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(key); err != nil {
		t.Error(err)
	} else if fi.Mode() != 0o600 {
		t.Errorf("after --force: %s mode %v, want 0600", key, fi.Mode())
	}
	b, err := os.ReadFile(filepath.Join(caDir, "ca-key.pem"))
	if blk, _ := pem.Decode(b); err != nil || blk == nil || blk.Type != "PRIVATE KEY" {
		t.Errorf("ca-key.pem is not a PKCS#8 PEM block (err %v)", err)
	}
}

func TestStdoutNamesFilesAndPin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	out, err := pkiRun(t, genCA, "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), "broker.ca_pem"} {
		if !strings.Contains(out, s) {
			t.Errorf("gen-ca stdout %q does not mention %q", out, s)
		}
	}
	tlsDir := filepath.Join(t.TempDir(), "tls")
	out, err = pkiRun(t, genCert, "--ca-dir", dir, "--out", tlsDir, "--hosts", "10.0.2.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server-key.pem"), filepath.Join(dir, "ca.pem")} {
		if !strings.Contains(out, s) {
			t.Errorf("gen-cert stdout %q does not mention %q", out, s)
		}
	}
}

func TestOverwriteNeedsForce(t *testing.T) {
	caDir := newCA(t)
	before, _ := os.ReadFile(filepath.Join(caDir, "ca.pem"))
	_, err := pkiRun(t, genCA, "--dir", caDir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(caDir, "ca.pem")) {
		t.Errorf("second gen-ca: got %v, want refusal naming ca.pem", err)
	}
	if after, _ := os.ReadFile(filepath.Join(caDir, "ca.pem")); !bytes.Equal(before, after) {
		t.Error("refused gen-ca changed ca.pem")
	}
	if _, err := pkiRun(t, genCA, "--dir", caDir, "--force"); err != nil {
		t.Fatalf("gen-ca --force: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(caDir, "ca.pem")); bytes.Equal(before, after) {
		t.Error("gen-ca --force left ca.pem unchanged")
	}
	out := newCert(t, caDir, "127.0.0.1")
	_, err = pkiRun(t, genCert, "--ca-dir", caDir, "--out", out, "--hosts", "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(out, "server.pem")) {
		t.Errorf("second gen-cert: got %v, want refusal naming server.pem", err)
	}
}
