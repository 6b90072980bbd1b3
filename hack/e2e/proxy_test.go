//go:build linux

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
)

// These tests run the Proxy without QEMU, between a Go client that pins
// the CA (as the guest does) and a stand-in broker.

const testResourcePath = kbs.PathResource + Resource

// stubBroker answers /auth with a cookie and a nonce, /resource with a
// JWE-shaped body, and counts what reached it.
type stubBroker struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func (b *stubBroker) port(t *testing.T) int {
	t.Helper()
	return b.srv.Listener.Addr().(*net.TCPAddr).Port
}

func startStubBroker(t *testing.T, dir string) *stubBroker {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b := &stubBroker{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		switch r.URL.Path {
		case kbs.PathAuth:
			http.SetCookie(w, &http.Cookie{Name: kbs.SessionCookie, Value: "cookie-1", Path: "/kbs"})
			w.Write([]byte(`{"nonce":"bm9uY2U=","extra-params":""}`))
		case testResourcePath:
			w.Write([]byte(`{"protected":"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9","encrypted_key":"k","iv":"i","ciphertext":"c","tag":"t"}`))
		default:
			http.Error(w, "no", http.StatusNotFound)
		}
	}))
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	return b
}

// writeTestPKI writes ca.pem, server.pem and server-key.pem for 127.0.0.1
// into dir, as `keybroker gen-ca` and `gen-cert` name them.
func writeTestPKI(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: srvDER}, "server-key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// proxyRig is a stand-in broker, a proxy in front of it and a client of
// the proxy that pins the CA.
type proxyRig struct {
	dir    string
	broker *stubBroker
	proxy  *Proxy
	base   string
	client *http.Client
}

func newProxyRig(t *testing.T, c ProxyConfig) *proxyRig {
	t.Helper()
	g := &proxyRig{dir: t.TempDir()}
	writeTestPKI(t, g.dir)
	g.broker = startStubBroker(t, g.dir)
	client, err := brokerClient(g.dir)
	if err != nil {
		t.Fatal(err)
	}
	client.Transport.(*http.Transport).DisableKeepAlives = true // one connection per request, as Drop sees them
	g.client = client
	g.start(t, c)
	return g
}

// start (re)starts the proxy with c on a fresh port.
func (g *proxyRig) start(t *testing.T, c ProxyConfig) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c.TLSDir, c.Port, c.BrokerPort = g.dir, port, g.broker.port(t)
	if g.proxy, err = StartProxy(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.proxy.Close() })
	g.base = "https://127.0.0.1:" + strconv.Itoa(port)
}

// do sends one request through the proxy; a dropped connection is an error.
func (g *proxyRig) do(t *testing.T, method, path string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader([]byte(`{"version":"0.4.0"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func (g *proxyRig) mustDo(t *testing.T, method, path string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := g.do(t, method, path)
	if err != nil {
		t.Fatalf("%s %s through the proxy: %v", method, path, err)
	}
	return resp, body
}

func TestProxyForwardsAndRecords(t *testing.T) {
	g := newProxyRig(t, ProxyConfig{})
	resp, body := g.mustDo(t, http.MethodPost, kbs.PathAuth)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"nonce":"bm9uY2U="`)) {
		t.Fatalf("auth: HTTP %d %q, want the broker's nonce", resp.StatusCode, body)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Value != "cookie-1" {
		t.Errorf("auth cookies %v, want the broker's session cookie", c)
	}
	if g.broker.hits.Load() != 1 || g.proxy.Count(kbs.PathAuth) != 1 || g.proxy.Faulted() != 0 {
		t.Errorf("broker hits %d, proxy auth count %d, faulted %d; want 1, 1, 0", g.broker.hits.Load(),
			g.proxy.Count(kbs.PathAuth), g.proxy.Faulted())
	}
	x := g.proxy.Exchanges()
	if len(x) != 1 || x[0].Method != http.MethodPost || string(x[0].Body) != `{"version":"0.4.0"}` ||
		x[0].Status != http.StatusOK || !bytes.Equal(x[0].RespBody, body) {
		t.Errorf("recorded %+v, want the request and the answer", x)
	}
}

func TestProxyDropsFirst(t *testing.T) {
	g := newProxyRig(t, ProxyConfig{Fault: Drop, First: 2})
	for i := range 2 {
		if resp, _, err := g.do(t, http.MethodPost, kbs.PathAuth); err == nil {
			t.Fatalf("request %d: HTTP %d, want the connection dropped", i+1, resp.StatusCode)
		}
	}
	if resp, _ := g.mustDo(t, http.MethodPost, kbs.PathAuth); resp.StatusCode != http.StatusOK {
		t.Errorf("third request: HTTP %d, want the broker's 200", resp.StatusCode)
	}
	if g.broker.hits.Load() != 1 || g.proxy.Count(kbs.PathAuth) != 3 || g.proxy.Faulted() != 2 {
		t.Errorf("broker hits %d, auth count %d, faulted %d; want 1, 3, 2", g.broker.hits.Load(),
			g.proxy.Count(kbs.PathAuth), g.proxy.Faulted())
	}
}

func TestProxyAnswersInsteadOfBroker(t *testing.T) {
	for _, tc := range []struct {
		fault  Fault
		status int
	}{{Unavailable, http.StatusServiceUnavailable}, {Garbage, http.StatusOK}} {
		g := newProxyRig(t, ProxyConfig{Fault: tc.fault})
		resp, body := g.mustDo(t, http.MethodPost, kbs.PathAuth)
		if resp.StatusCode != tc.status {
			t.Errorf("fault %d: HTTP %d, want %d", tc.fault, resp.StatusCode, tc.status)
		}
		var v map[string]any
		if tc.fault == Garbage && json.Unmarshal(body, &v) == nil {
			t.Errorf("garbage answer %q is JSON", body)
		}
		if g.broker.hits.Load() != 0 || g.proxy.Faulted() != 1 {
			t.Errorf("fault %d: broker hits %d, faulted %d; want 0, 1", tc.fault, g.broker.hits.Load(), g.proxy.Faulted())
		}
	}
}

func TestProxyTruncatesJWE(t *testing.T) {
	g := newProxyRig(t, ProxyConfig{Fault: TruncateJWE})
	if _, body := g.mustDo(t, http.MethodPost, kbs.PathAuth); !json.Valid(body) {
		t.Errorf("auth answer %q altered, want only /resource cut", body)
	}
	_, body := g.mustDo(t, http.MethodGet, testResourcePath)
	x := g.proxy.Exchanges()
	if len(x) != 2 || json.Valid(body) || len(body) == 0 || !bytes.HasPrefix(x[1].RespBody, body) ||
		len(body) > 60 || g.proxy.Faulted() != 1 {
		t.Errorf("resource answer %q (faulted %d), want the first half of the broker's JWE", body, g.proxy.Faulted())
	}
}

func TestProxyDelays(t *testing.T) {
	const d = 300 * time.Millisecond
	g := newProxyRig(t, ProxyConfig{Delay: d})
	start := time.Now()
	g.mustDo(t, http.MethodPost, kbs.PathAuth)
	if took := time.Since(start); took < d {
		t.Errorf("answer after %v, want at least %v", took, d)
	}
}

func TestProxyReplays(t *testing.T) {
	g := newProxyRig(t, ProxyConfig{})
	_, auth := g.mustDo(t, http.MethodPost, kbs.PathAuth)
	_, jwe := g.mustDo(t, http.MethodGet, testResourcePath)
	rec := g.proxy.Exchanges()
	g.proxy.Close()
	g.broker.srv.Close() // a replay must not need the broker
	g.start(t, ProxyConfig{Fault: Replay, Recording: rec})
	resp, body := g.mustDo(t, http.MethodPost, kbs.PathAuth)
	if !bytes.Equal(body, auth) || len(resp.Cookies()) != 1 || resp.Cookies()[0].Value != "cookie-1" {
		t.Errorf("replayed auth %q, cookies %v; want the recorded answer", body, resp.Cookies())
	}
	if _, body := g.mustDo(t, http.MethodGet, testResourcePath); !bytes.Equal(body, jwe) {
		t.Errorf("replayed resource %q, want %q", body, jwe)
	}
	if resp, _ := g.mustDo(t, http.MethodGet, testResourcePath); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a second resource request: HTTP %d, want 502 (one was recorded)", resp.StatusCode)
	}
	if g.proxy.Faulted() != 3 || g.broker.hits.Load() != 2 {
		t.Errorf("faulted %d, broker hits %d; want 3 and the 2 of the recording", g.proxy.Faulted(), g.broker.hits.Load())
	}
}
