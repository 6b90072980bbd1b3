package evidence

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
)

// trusteeVCEK's validity as `openssl x509 -dates` prints it; AMD's Milan
// ARK and ASK are valid 2020-10-22 to 2045-10-22, so the chain's window is
// the VCEK's.
var (
	trusteeVCEKNotBefore = time.Date(2023, 1, 24, 17, 58, 26, 0, time.UTC)
	trusteeVCEKNotAfter  = time.Date(2030, 1, 24, 17, 58, 26, 0, time.UTC)
)

func trusteeEvidence(t *testing.T) Evidence {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorDir, "trustee-milan-v2-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(filepath.Join(vectorDir, "trustee-milan-vcek.der"))
	if err != nil {
		t.Fatal(err)
	}
	return Evidence{Report: raw, Certs: []Cert{{"VCEK", der}}}
}

func amdVerifierInternal(t *testing.T) *Verifier {
	t.Helper()
	roots, err := AMDRoots()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	return newVerifier(&p, roots, nil)
}

// TestCachedAuthenticate checks that the cache is used only after a full
// verification, and only while the report and time pass every check.
func TestCachedAuthenticate(t *testing.T) {
	v := amdVerifierInternal(t)
	ev := trusteeEvidence(t)
	der := ev.Certs[0].DER
	hit := func(raw, der []byte, now time.Time) bool {
		return v.cachedAuthenticate(raw, der, abi.VcekReportSigner, Options{Now: now}) != nil
	}
	if hit(ev.Report, der, asOf) {
		t.Fatal("cache hit before any verification")
	}
	full, err := v.authenticate(ev, Options{Now: asOf})
	if err != nil {
		t.Fatal(err)
	}
	cached := v.cachedAuthenticate(ev.Report, der, abi.VcekReportSigner, Options{Now: asOf})
	if cached == nil {
		t.Fatal("no cache hit after a verification")
	}
	if cached.line != full.line || cached.nonAMD != full.nonAMD || cached.signer != full.signer ||
		!slices.Equal(cached.att.Report.GetMeasurement(), full.att.Report.GetMeasurement()) {
		t.Errorf("cached %+v differs from verified %+v", cached, full)
	}
	flipped := slices.Clone(ev.Report)
	flipped[0x90] ^= 1
	cases := []struct {
		name string
		raw  []byte
		der  []byte
		now  time.Time
		hit  bool
	}{
		{"at NotBefore", ev.Report, der, trusteeVCEKNotBefore, true},
		{"at NotAfter", ev.Report, der, trusteeVCEKNotAfter, true},
		{"before NotBefore", ev.Report, der, trusteeVCEKNotBefore.Add(-time.Second), false},
		{"after NotAfter", ev.Report, der, trusteeVCEKNotAfter.Add(time.Second), false},
		{"flipped report bit", flipped, der, asOf, false},
		{"other certificate bytes", ev.Report, append(slices.Clone(der), 0), asOf, false},
	}
	for _, c := range cases {
		if got := hit(c.raw, c.der, c.now); got != c.hit {
			t.Errorf("%s: hit %v, want %v", c.name, got, c.hit)
		}
		// The full check agrees with the cache's decision at that time.
		_, err := v.authenticate(Evidence{Report: c.raw, Certs: []Cert{{"VCEK", c.der}}}, Options{Now: c.now})
		if (err == nil) != c.hit {
			t.Errorf("%s: full check err = %v, cache hit %v", c.name, err, c.hit)
		}
	}
	if _, err := v.authenticate(ev, Options{Now: trusteeVCEKNotAfter.Add(time.Second)}); !errors.Is(err, ErrCertificate) {
		t.Errorf("expired: err = %v, want ErrCertificate", err)
	}
	if n := v.chains.len(); n != 1 {
		t.Errorf("cache holds %d chains, want 1", n)
	}
}

// TestCachedCertificateIsPrivate: the cache keeps its own copy of the
// certificate, so a caller reusing its buffer cannot change what is cached.
func TestCachedCertificateIsPrivate(t *testing.T) {
	v := amdVerifierInternal(t)
	ev := trusteeEvidence(t)
	der := slices.Clone(ev.Certs[0].DER)
	ev.Certs[0].DER = der
	if _, err := v.authenticate(ev, Options{Now: asOf}); err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(der)
	clear(der)
	if v.cachedAuthenticate(ev.Report, orig, abi.VcekReportSigner, Options{Now: asOf}) == nil {
		t.Error("the cached certificate changed with the caller's buffer")
	}
}

func TestChainCacheBound(t *testing.T) {
	c := newChainCache(1024)
	e := &chainEntry{}
	for i := range 3000 {
		c.put(chainKey{sum: sha256.Sum256([]byte{byte(i), byte(i >> 8)})}, e)
		if n := c.len(); n > 1024 {
			t.Fatalf("after %d entries the cache holds %d", i+1, n)
		}
	}
	if n := c.len(); n != 1024 {
		t.Fatalf("cache holds %d, want 1024", n)
	}
	k := chainKey{sum: sha256.Sum256([]byte("again"))}
	c.put(k, e)
	c.put(k, e)
	if n := c.len(); n != 1024 || c.get(k) != e {
		t.Errorf("re-inserting a key: %d entries, found %v", n, c.get(k) != nil)
	}
}
