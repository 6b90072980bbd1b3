package broker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

// chainDir holds one emulated ARK/ASK/VCEK chain shared by every test of the
// package (minting RSA roots is the slow part).
var chainDir string

// TestMain mints the chain: RSA-2048 roots for tests (fast to make), and for
// benchmarks RSA-4096 roots as AMD's ARK and ASK have (and snpemu init makes),
// so that verification costs what it costs in production.
func TestMain(m *testing.M) {
	if chain := os.Getenv(benchServerEnv); chain != "" {
		os.Exit(benchServer(chain))
	}
	flag.Parse()
	bits := 2048
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		bits = 4096
	}
	dir, err := os.MkdirTemp("", "broker-chain-")
	if err != nil {
		panic(err)
	}
	chainDir = filepath.Join(dir, "snp")
	if err := emu.InitWith(chainDir, emu.InitOptions{Product: "Milan", RSABits: bits}); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testMeasurement is what the emulator reports unless a test says otherwise.
var testMeasurement = [48]byte{0xc0, 0xff, 0xee, 47: 0x01}

// fixture is a broker on a loopback TLS server, a secret it may release, and a
// recorder of everything the broker sent.
type fixture struct {
	t      testing.TB
	srv    *httptest.Server
	broker *broker.Broker
	store  *store.Store
	logs   *syncBuffer
	audit  *syncBuffer // the audit log (JSON lines)
	secret []byte
	now    time.Time
	mu     sync.Mutex
	wire   bytes.Buffer // every response body
	served []string     // "status path" of every response
}

// testPolicy is a complete policy trusting the test chain: every key Lint
// requires, revocation not checked (the emulator publishes no CRL) and the
// non-AMD root explicitly allowed.
func testPolicy() string {
	return "attestation:\n" +
		"  trust_amd_roots: false\n" +
		"  extra_roots: [" + filepath.Join(chainDir, emu.CertChainFile) + "]\n" +
		"  insecure_non_amd_roots: true\n" +
		"  insecure_skip_revocation: true\n" +
		"  min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n" +
		"  allow_smt: true\n" +
		"  vmpl: 0\n" +
		"  min_report_version: 2\n" +
		"  permit_provisional_firmware: true\n"
}

// newFixture starts a broker whose store releases default/disk/root to
// testMeasurement and whose policy trusts the test chain; edit changes the
// policy before the broker starts.
func newFixture(t testing.TB, edit func(p *broker.PolicyFile)) *fixture {
	t.Helper()
	return newFixtureConfig(t, edit, nil)
}

// newFixtureConfig is newFixture with a last change to the broker's Config.
func newFixtureConfig(t testing.TB, edit func(p *broker.PolicyFile), cfg func(*broker.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &syncBuffer{}, audit: &syncBuffer{},
		secret: []byte("canary-disk-key-0123456789abcdef"), now: time.Now()}
	p, err := broker.ParsePolicy([]byte(testPolicy()), "")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(p)
	}
	f.store, err = store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Add("default/disk/root", f.secret, []string{hex.EncodeToString(testMeasurement[:])}); err != nil {
		t.Fatal(err)
	}
	c := broker.Config{Policy: p, Store: f.store, Now: f.clock, Audit: f.audit, Rate: -1,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
	if cfg != nil {
		cfg(&c)
	}
	f.broker, err = broker.New(c)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(f.record(f.broker.Handler()))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// record keeps a copy of every response the broker writes.
func (f *fixture) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		f.mu.Lock()
		f.wire.Write(rec.Body.Bytes())
		f.served = append(f.served, http.StatusText(rec.Code)+" "+r.URL.Path)
		f.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// client returns a KBS client pinned to the fixture's TLS certificate, trying once.
func (f *fixture) client() *kbs.Client {
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	c, err := kbs.NewClient(kbs.Options{URL: f.srv.URL, RootCAs: pool, Attempts: 1})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// assertNothingReleased checks that no resource answer succeeded and that the
// secret never crossed the wire in any encoding.
func (f *fixture) assertNothingReleased() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.served {
		if strings.HasPrefix(s, "OK ") && strings.Contains(s, "/resource/") {
			f.t.Errorf("a resource was released: %s", s)
		}
	}
	for _, enc := range []string{string(f.secret), hex.EncodeToString(f.secret),
		base64.StdEncoding.EncodeToString(f.secret), base64.RawURLEncoding.EncodeToString(f.secret)} {
		if bytes.Contains(f.wire.Bytes(), []byte(enc)) {
			f.t.Errorf("secret on the wire in plain form")
		}
		if strings.Contains(f.audit.String(), enc) || strings.Contains(f.logs.String(), enc) {
			f.t.Errorf("secret in the audit or service log")
		}
	}
	if strings.Contains(f.audit.String(), `"outcome":"released"`) {
		f.t.Errorf("audit log records a release")
	}
}

// reporter adapts an emulator to the client's Reporter, with an optional
// tamper of the signed report.
type reporter struct {
	srv    *emu.Server
	tamper func(report []byte)
}

func (r reporter) GetEvidence(_ context.Context, rd [64]byte) ([]byte, []byte, error) {
	rep, certs, err := r.srv.Report(rd, 0)
	if err == nil && r.tamper != nil {
		r.tamper(rep)
	}
	return rep, certs, err
}

func newEmulator(t testing.TB, cfg emu.Config) *emu.Server {
	t.Helper()
	st, err := emu.Load(chainDir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Launch == nil && cfg.Measurement == ([48]byte{}) {
		cfg.Measurement = testMeasurement
	}
	s, err := emu.NewServer(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
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

// assertAudited checks that the audit log holds a record containing want.
func (f *fixture) assertAudited(want string) {
	f.t.Helper()
	if !strings.Contains(f.audit.String(), want) {
		f.t.Errorf("audit log lacks %s:\n%s", want, f.audit)
	}
}
