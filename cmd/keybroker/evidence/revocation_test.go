package evidence_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/google/go-sev-guest/verify/trust"
)

// TestCRLLoading: every CRL must parse and be signed by a trusted ARK, ASK
// or ASVK, or NewVerifier fails naming the file; DER and PEM both load.
func TestCRLLoading(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	der, err := os.ReadFile(f.arkCRL)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemCRL := write("ark.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	bad := map[string]string{
		// Same issuer name (ARK-Milan), another key: signed by nothing trusted.
		"other chain's ARK": f.otherARKCRL,
		"missing file":      filepath.Join(dir, "missing.crl"),
		"not a CRL":         write("junk.crl", []byte("not a CRL")),
		"certificate PEM":   write("cert.pem", testChain(t).RootsPEM()),
		"PEM and garbage":   write("trailing.pem", append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), "junk"...)),
	}
	for name, path := range bad {
		_, err := evidence.NewVerifier(f.policy(func(p *evidence.Policy) { p.CRLs = []string{f.arkCRL, path} }), quiet)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: NewVerifier err = %v, want an error naming %s", name, err, path)
		}
	}
	var logs bytes.Buffer
	p := f.policy(func(p *evidence.Policy) { p.CRLs = []string{pemCRL} })
	v, err := evidence.NewVerifier(p, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("PEM CRL: %v", err)
	}
	if !strings.Contains(logs.String(), "using CRL") || !strings.Contains(logs.String(), pemCRL) {
		t.Errorf("no log line for the CRL:\n%s", logs.String())
	}
	raw, certs := f.mint(t, nil)
	if _, err := v.Check(evidence.Evidence{Report: raw, Certs: certs}, f.options(nil)); err != nil {
		t.Errorf("report under a PEM CRL: %v", err)
	}
}

// TestRevocationOfAMDChains runs the real AMD vectors through the
// revocation check with no CRL: refused, and the error says where AMD
// publishes the CRL of that chain.
func TestRevocationOfAMDChains(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		vector int
		url    string
	}{{1, "https://kdsintf.amd.com/vcek/v1/Milan/crl"}, {2, "https://kdsintf.amd.com/vlek/v1/Milan/crl"}} {
		v := vectors()[c.vector]
		raw, cert := v.load(t)
		p := evidence.DefaultPolicy()
		p.CRLs = []string{f.arkCRL} // the emulated chain's: trusted, but not the AMD ARK's
		p.ExtraRoots, p.InsecureNonAMDRoots = []string{f.roots}, true
		v.policy(&p)
		verifier, err := evidence.NewVerifier(&p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		res, err := verifier.Check(v.evidence(raw, cert), evidence.Options{Now: asOf})
		if !errors.Is(err, evidence.ErrRevocation) || res != nil || !strings.Contains(err.Error(), c.url) {
			t.Errorf("%s: result %v, err = %v; want ErrRevocation naming %s", v.name, res, err, c.url)
		}
	}
}

// TestExtraRootsMustBeAMDs: a non-AMD extra root needs
// insecure_non_amd_roots; AMD's own chain as an extra root does not.
func TestExtraRootsMustBeAMDs(t *testing.T) {
	f := newFixture(t)
	amdPath := filepath.Join(t.TempDir(), "amd-milan.pem")
	if err := os.WriteFile(amdPath, trust.AskArkMilanVcekBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	p := evidence.DefaultPolicy()
	p.TrustAMDRoots, p.ExtraRoots, p.InsecureSkipRevocation = false, []string{amdPath}, true
	v, err := evidence.NewVerifier(&p, quiet)
	if err != nil || v.NonAMDRoots() {
		t.Fatalf("AMD's chain as an extra root: err %v", err)
	}
	vec := vectors()[1]
	raw, cert := vec.load(t)
	if _, err := v.Check(vec.evidence(raw, cert), evidence.Options{Now: asOf}); err != nil {
		t.Errorf("AMD report under AMD's chain loaded as an extra root: %v", err)
	}
	p.ExtraRoots = []string{amdPath, f.roots}
	_, err = evidence.NewVerifier(&p, quiet)
	if !errors.Is(err, evidence.ErrInvalidPolicy) || !strings.Contains(err.Error(), f.roots) ||
		!strings.Contains(err.Error(), "insecure_non_amd_roots") {
		t.Errorf("emulated root without insecure_non_amd_roots: err = %v", err)
	}
	p.InsecureNonAMDRoots = true
	if v, err := evidence.NewVerifier(&p, quiet); err != nil || !v.NonAMDRoots() {
		t.Errorf("emulated root with insecure_non_amd_roots: err %v", err)
	}
}

func TestChainCRLIssuers(t *testing.T) {
	c := testChain(t)
	if _, err := c.CRL("VCEK", fresh[0], fresh[1]); err == nil {
		t.Error("a CRL issued by a VCEK")
	}
	s := c.Serials()
	if s.ASK.Cmp(s.ASVK) == 0 || s.VCEK.Cmp(s.VLEK) == 0 || s.ASK.Sign() <= 0 {
		t.Errorf("serials not distinct and positive: %v", s)
	}
	s.ASK.SetInt64(0)
	if c.Serials().ASK.Sign() == 0 {
		t.Error("Serials returned the chain's own big.Int")
	}
}
