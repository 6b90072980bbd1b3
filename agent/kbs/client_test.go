package kbs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var diskKey = []byte("CANARY-DISK-KEY-0123456789abcdef")

// newTestClient starts a TLS fake broker and a client pinned to its CA.
func newTestClient(t *testing.T, b *fakeBroker, logs *bytes.Buffer) (*Client, *httptest.Server) {
	t.Helper()
	return newTestClientWith(t, b, logs, func(*httptest.Server) {})
}

// newTestClientWith is newTestClient with setup run on the server before
// it starts.
func newTestClientWith(t *testing.T, b *fakeBroker, logs *bytes.Buffer, setup func(*httptest.Server)) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewUnstartedServer(b)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	setup(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := NewClient(Options{URL: srv.URL, RootCAs: pool, Attempts: 3, Backoff: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestGetResourceSuccess(t *testing.T) {
	b := newFakeBroker(diskKey)
	var logs bytes.Buffer
	c, _ := newTestClient(t, b, &logs)
	buf, err := c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
	if err != nil {
		t.Fatalf("GetResource: %v (broker saw %v)", err, b.problems)
	}
	if !bytes.Equal(buf.Bytes(), diskKey) {
		t.Fatalf("secret = %q", buf.Bytes())
	}
	if len(b.problems) != 0 || b.count("auth") != 1 || b.count("attest") != 1 || b.count("resource") != 1 {
		t.Errorf("calls %v, problems %v", b.calls, b.problems)
	}
	for _, s := range b.sessions {
		if len(s.certs) != 1 || s.certs[0].Type != CertTypeVCEK {
			t.Errorf("broker got certs %v, want the VCEK from the table", s.certs)
		}
	}
	for _, leak := range []string{string(diskKey), fakeToken, "TOKEN-CANARY"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("logs reveal %q:\n%s", leak, logs.String())
		}
	}
	if logs.Len() == 0 {
		t.Error("nothing was logged at debug level")
	}
}

func TestGetResourceRefusedNotRetried(t *testing.T) {
	tests := []struct {
		step   string
		status int
	}{{"auth", 401}, {"attest", 401}, {"attest", 403}, {"resource", 404}, {"resource", 401}}
	for _, tc := range tests {
		b := newFakeBroker(diskKey)
		b.fail = func(step string, _ int) int {
			if step == tc.step {
				return tc.status
			}
			return 0
		}
		c, _ := newTestClient(t, b, nil)
		_, err := c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
		var se *StatusError
		if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.Status != tc.status || se.Step != tc.step {
			t.Errorf("%s %d: err = %v, want ErrRefused from that step", tc.step, tc.status, err)
			continue
		}
		if se.Info.Type != ErrorType("InjectedFailure") || !strings.HasPrefix(se.Info.Detail, "injected") || strings.ContainsRune(se.Info.Detail, 0x1b) {
			t.Errorf("%s %d: info = %+v, want the sanitised broker detail", tc.step, tc.status, se.Info)
		}
		if b.count("auth") != 1 {
			t.Errorf("%s %d: %d auth calls, want 1 (no retry)", tc.step, tc.status, b.count("auth"))
		}
	}
}

func TestGetResourceRetriesServerErrors(t *testing.T) {
	b := newFakeBroker(diskKey)
	b.fail = func(step string, n int) int {
		if (step == "auth" && n == 1) || (step == "attest" && n == 1) {
			return 500
		}
		return 0
	}
	c, _ := newTestClient(t, b, nil)
	buf, err := c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
	if err != nil || !bytes.Equal(buf.Bytes(), diskKey) {
		t.Fatalf("GetResource after 500s: %v", err)
	}
	if b.count("auth") != 3 || b.count("attest") != 2 {
		t.Errorf("calls %v, want 3 auth (fresh session per attempt) and 2 attest", b.calls)
	}

	always := newFakeBroker(diskKey)
	always.fail = func(string, int) int { return 503 }
	c, _ = newTestClient(t, always, nil)
	_, err = c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused) || always.count("auth") != 3 {
		t.Errorf("always 503: err = %v after %d calls, want ErrUnreachable after 3", err, always.count("auth"))
	}
}

func TestGetResourceNotRetried(t *testing.T) {
	tests := []struct {
		name string
		fail func(string, int) int
		rep  fakeReporter
		want error
	}{
		{"400", func(s string, _ int) int { return map[string]int{"attest": 400}[s] }, fakeReporter{}, ErrProtocol},
		{"reporter error", nil, fakeReporter{err: errors.New("no /dev/sev-guest")}, nil},
		{"report binds other data", nil, fakeReporter{wrong: true}, nil},
	}
	for _, tc := range tests {
		b := newFakeBroker(diskKey)
		b.fail = tc.fail
		c, _ := newTestClient(t, b, nil)
		_, err := c.GetResource(context.Background(), tc.rep, "default/disk/root")
		if err == nil || errors.Is(err, ErrUnreachable) || (tc.want != nil && !errors.Is(err, tc.want)) || b.count("auth") != 1 {
			t.Errorf("%s: err = %v after %d auth calls", tc.name, err, b.count("auth"))
		}
	}
}

func TestGetResourceUnreachableWithinDeadline(t *testing.T) {
	b := newFakeBroker(diskKey)
	srv := httptest.NewTLSServer(b)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close() // nothing listens any more
	c, err := NewClient(Options{URL: srv.URL, RootCAs: pool, Attempts: 1000, Backoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.GetResource(ctx, fakeReporter{}, "default/disk/root")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about the 500ms deadline", d)
	}
}

func TestGetResourceRejectsOtherBroker(t *testing.T) {
	b := newFakeBroker(diskKey)
	_, srv := newTestClient(t, b, nil)
	// httptest servers all share one certificate: pin a freshly made one.
	pool := x509.NewCertPool()
	pool.AddCert(selfSignedCert(t))
	c, err := NewClient(Options{URL: srv.URL, RootCAs: pool, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") || b.count("auth") != 0 {
		t.Errorf("err = %v, broker calls %v; want a TLS failure before any request", err, b.calls)
	}
}

// selfSignedCert makes a CA certificate valid for 127.0.0.1.
func selfSignedCert(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestGetResourceBadPath(t *testing.T) {
	b := newFakeBroker(diskKey)
	c, _ := newTestClient(t, b, nil)
	for _, p := range []string{"", "a/b", "a/b/c/d", "a/../c", "a/b/..", "./b/c", "a//c", "/a/b", "a/b/c?x=1",
		"a/b/c%2f", "a/b/ c", "a/b/c#f", "a/b/\u00e9"} {
		if _, err := c.GetResource(context.Background(), fakeReporter{}, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("path %q: err = %v, want ErrInvalidPath", p, err)
		}
	}
	if len(b.calls) != 0 {
		t.Errorf("bad paths reached the broker: %v", b.calls)
	}
	if _, err := c.GetResource(context.Background(), nil, "a/b/c"); err == nil {
		t.Error("nil Reporter accepted")
	}
}

func TestNewClientOptions(t *testing.T) {
	pool := x509.NewCertPool()
	bad := []Options{
		{URL: "http://10.0.2.2:8080", RootCAs: pool},
		{URL: "https://10.0.2.2:8080"},
		{URL: "https://10.0.2.2:8080/kbs", RootCAs: pool},
		{URL: "https://user@10.0.2.2:8080", RootCAs: pool},
		{URL: "ftp://10.0.2.2", RootCAs: pool},
		{URL: "https://", RootCAs: pool},
		{URL: "://x", RootCAs: pool},
	}
	for _, o := range bad {
		if _, err := NewClient(o); err == nil {
			t.Errorf("NewClient(%q) succeeded", o.URL)
		}
	}
	good := []Options{
		{URL: "https://10.0.2.2:8080", RootCAs: pool},
		{URL: "https://10.0.2.2:8080/", RootCAs: pool},
		{URL: "http://127.0.0.1:1", AllowHTTP: true},
	}
	for _, o := range good {
		c, err := NewClient(o)
		if err != nil || c.attempts != 5 || c.backoff != 500*time.Millisecond {
			t.Errorf("NewClient(%q) = %+v, %v", o.URL, c, err)
		}
	}
}
