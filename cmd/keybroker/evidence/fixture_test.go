package evidence_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence/evidencetest"
)

// The emulated chains are generated once per test binary (RSA key
// generation is the slow part): the one the tests mint with, and another
// one that is never trusted together with it.
var (
	chainOnce = sync.OnceValues(func() (*evidencetest.Chain, error) {
		return evidencetest.NewChain("Milan-B0", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	})
	otherChainOnce = sync.OnceValues(func() (*evidencetest.Chain, error) {
		return evidencetest.NewChain("Milan-B0", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	})
)

func testChain(t testing.TB) *evidencetest.Chain { return mustChain(t, chainOnce) }

func otherChain(t testing.TB) *evidencetest.Chain { return mustChain(t, otherChainOnce) }

func mustChain(t testing.TB, once func() (*evidencetest.Chain, error)) *evidencetest.Chain {
	t.Helper()
	c, err := once()
	if err != nil {
		t.Fatalf("emulated chain: %v", err)
	}
	return c
}

// Base values of the minted reports: TCB bootloader 3, tee 1, snp 8,
// microcode 115 in the Milan layout (the policy's minimum).
const baseTCB = 0x7308000000000103

var (
	baseMeasurement = [48]byte{0: 0xAA, 47: 0x55}
	baseReportData  = [64]byte{0: 1, 63: 2}
	baseChipID      = [64]byte{0: 0xC1, 63: 0x1D}
	baseMinTCB      = evidence.TCBMinimum{Bootloader: 3, TEE: 1, SNP: 8, Microcode: 115}
)

// Times of the CRLs: current ones span fresh, stale ones ended before now.
var (
	fixtureNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	fresh      = [2]time.Time{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}
	stale      = [2]time.Time{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)}
)

// fixture holds the files the tests' policies name: the emulated chains'
// roots and CRLs issued under them.
type fixture struct {
	roots, otherRoots string
	// Current CRLs revoking nothing, from the test chain and the other one.
	arkCRL, askCRL, otherARKCRL string
	// Stale ones, and current ones revoking one certificate each.
	staleARKCRL, staleRevokesASK                                   string
	arkRevokesASK, arkRevokesASVK, askRevokesVCEK, asvkRevokesVLEK string
	now                                                            time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	c, other := testChain(t), otherChain(t)
	s := c.Serials()
	f := &fixture{roots: filepath.Join(dir, "emu.pem"), otherRoots: filepath.Join(dir, "other.pem"), now: fixtureNow}
	for path, ch := range map[string]*evidencetest.Chain{f.roots: c, f.otherRoots: other} {
		if err := ch.WriteRoots(path); err != nil {
			t.Fatal(err)
		}
	}
	crl := func(name string, ch *evidencetest.Chain, issuer string, span [2]time.Time, revoked ...*big.Int) string {
		return writeCRL(t, dir, name, ch, issuer, span, revoked...)
	}
	f.arkCRL, f.askCRL = crl("ark.crl", c, "ARK", fresh), crl("ask.crl", c, "ASK", fresh)
	f.otherARKCRL = crl("other-ark.crl", other, "ARK", fresh)
	f.staleARKCRL, f.staleRevokesASK = crl("stale.crl", c, "ARK", stale), crl("stale-ask.crl", c, "ARK", stale, s.ASK)
	f.arkRevokesASK, f.arkRevokesASVK = crl("no-ask.crl", c, "ARK", fresh, s.ASK), crl("no-asvk.crl", c, "ARK", fresh, s.ASVK)
	f.askRevokesVCEK = crl("no-vcek.crl", c, "ASK", fresh, s.VCEK)
	f.asvkRevokesVLEK = crl("no-vlek.crl", c, "ASVK", fresh, s.VLEK)
	return f
}

func writeCRL(t *testing.T, dir, name string, c *evidencetest.Chain, issuer string, span [2]time.Time, revoked ...*big.Int) string {
	t.Helper()
	der, err := c.CRL(issuer, span[0], span[1], revoked...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, der, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// policy is the policy the refusal table starts from: AMD's roots and the
// test chain's, the test chain's ARK CRL, the base measurement and TCB.
func (f *fixture) policy(edit func(*evidence.Policy)) *evidence.Policy {
	p := evidence.DefaultPolicy()
	p.ExtraRoots, p.InsecureNonAMDRoots = []string{f.roots}, true
	p.CRLs = []string{f.arkCRL}
	p.AllowedMeasurements = []string{hex.EncodeToString(baseMeasurement[:])}
	p.MinTCB = baseMinTCB
	apply(edit, &p)
	return &p
}

func (f *fixture) verifier(t *testing.T, p *evidence.Policy) *evidence.Verifier {
	t.Helper()
	v, err := evidence.NewVerifier(p, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mint returns a genuine report for the base values and its certificates.
func (f *fixture) mint(t *testing.T, edit func(*evidencetest.Report)) ([]byte, []evidence.Cert) {
	t.Helper()
	rep := evidencetest.Report{Measurement: baseMeasurement, ReportData: baseReportData, ChipID: baseChipID, TCB: baseTCB}
	apply(edit, &rep)
	raw, certs, err := testChain(t).Mint(rep)
	if err != nil {
		t.Fatal(err)
	}
	return raw, certs
}

// options are the options the refusal table starts from.
func (f *fixture) options(edit func(*evidence.Options)) evidence.Options {
	rd := baseReportData
	o := evidence.Options{Now: f.now, ReportData: &rd, CheckMeasurement: true}
	apply(edit, &o)
	return o
}

// quiet discards the non-AMD root warnings (TestRootWarning checks them).
var quiet = slog.New(slog.DiscardHandler)

func apply[T any](f func(*T), v *T) {
	if f != nil {
		f(v)
	}
}

// sentinels are all of the package's refusal reasons.
var sentinels = []error{evidence.ErrMalformed, evidence.ErrCertificate, evidence.ErrUntrustedRoot, evidence.ErrRevoked,
	evidence.ErrRevocation, evidence.ErrSignature, evidence.ErrProduct, evidence.ErrReportVersion, evidence.ErrVMPL,
	evidence.ErrDebug, evidence.ErrMigrationAgent, evidence.ErrSMT, evidence.ErrGuestPolicy, evidence.ErrTCB,
	evidence.ErrMeasurement, evidence.ErrReportData, evidence.ErrHostData, evidence.ErrIDKey, evidence.ErrPolicy}

// checkOutcome checks ev and requires exactly the sentinels in want (an
// accepted report with an emulated-root Result when want is empty).
func checkOutcome(t *testing.T, p *evidence.Policy, ev evidence.Evidence, o evidence.Options, want []error) {
	t.Helper()
	v, err := evidence.NewVerifier(p, quiet)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Check(ev, o)
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if !res.NonAMDRoot || !bytes.Equal(res.Measurement, ev.Report[0x90:0xC0]) {
			t.Errorf("result: nonAMD %v measurement %x", res.NonAMDRoot, res.Measurement)
		}
		return
	}
	for _, s := range sentinels {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == s
		}
		if errors.Is(err, s) != wanted {
			t.Errorf("err = %v: wraps %v: %v, want %v", err, s, !wanted, wanted)
		}
	}
}
