package evidence_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence/evidencetest"
)

// TestCachedChainDecidesAlike runs every refusal case twice: on a fresh
// verifier, and on one whose cache already holds the case's certificate
// (from a genuine report, checked first). Outcomes and error texts must be
// identical: a cached chain is exactly as strict as a verified one.
func TestCachedChainDecidesAlike(t *testing.T) {
	w := newFixture(t)
	for _, c := range refusals(w) {
		if c.loadErr != nil {
			continue // no verifier to compare
		}
		t.Run(c.name, func(t *testing.T) {
			raw, certs := w.mint(t, c.report)
			genuine := slices.Clone(raw)
			c.change(t, raw)
			p := w.policy(c.policy)
			o := w.options(c.options)
			ev := evidence.Evidence{Report: raw, Certs: certs}

			cold := w.verifier(t, p)
			coldRes, coldErr := cold.Check(ev, o)
			warm := w.verifier(t, p)
			// Milan: so a policy product other than the report's does not
			// keep the genuine report out of the cache.
			warm.Check(evidence.Evidence{Report: genuine, Certs: certs}, evidence.Options{Now: w.now, Product: "Milan"})
			if n := evidence.CachedChains(warm); n != 1 && !slices.Contains(c.want, evidence.ErrUntrustedRoot) {
				t.Fatalf("the genuine report left %d cached chains, want 1", n)
			}
			warmRes, warmErr := warm.Check(ev, o)
			if (coldErr == nil) != (warmErr == nil) || coldErr != nil && coldErr.Error() != warmErr.Error() {
				t.Fatalf("fresh verifier: %v\nwarm verifier:  %v", coldErr, warmErr)
			}
			if !reflect.DeepEqual(coldRes, warmRes) {
				t.Errorf("results differ:\n%+v\n%+v", coldRes, warmRes)
			}
			checkOutcome(t, p, ev, o, c.want) // and the outcome is the expected one
		})
	}
}

// TestCachedChainStillRefuses warms the cache with a genuine report, then
// presents forgeries that reuse its certificate.
func TestCachedChainStillRefuses(t *testing.T) {
	w := newFixture(t)
	raw, certs := w.mint(t, nil)
	amd := vectors()[1] // trustee-milan-v2, a real AMD VCEK
	amdRaw, amdCert := amd.load(t)
	amdEv := amd.evidence(amdRaw, amdCert)
	flip := func(off int) []byte {
		b := slices.Clone(raw)
		b[off] ^= 1
		return b
	}
	cases := []struct {
		name string
		ev   evidence.Evidence
		now  time.Time
		want error
	}{
		{"signed byte flipped (measurement)", evidence.Evidence{Report: flip(0x90), Certs: certs}, w.now, evidence.ErrSignature},
		{"signed byte flipped (policy)", evidence.Evidence{Report: flip(0x08), Certs: certs}, w.now, evidence.ErrSignature},
		{"signature flipped", evidence.Evidence{Report: flip(0x2A0), Certs: certs}, w.now, evidence.ErrSignature},
		{"VCEK expired", evidence.Evidence{Report: raw, Certs: certs}, time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC), evidence.ErrCertificate},
		{"ASK not yet valid", evidence.Evidence{Report: raw, Certs: certs}, time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC), evidence.ErrCertificate},
		{"another trusted VCEK", evidence.Evidence{Report: raw, Certs: amdEv.Certs}, w.now, evidence.ErrSignature},
		{"AMD report with the emulated VCEK", evidence.Evidence{Report: amdRaw, Certs: certs}, w.now, evidence.ErrSignature},
	}
	v := w.verifier(t, w.policy(nil))
	for _, warm := range []evidence.Evidence{{Report: raw, Certs: certs}, amdEv} {
		if _, err := v.Check(warm, evidence.Options{Now: w.now}); err != nil && errors.Is(err, evidence.ErrSignature) {
			t.Fatalf("warming: %v", err)
		}
	}
	if n := evidence.CachedChains(v); n != 2 {
		t.Fatalf("%d cached chains after two genuine reports, want 2", n)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Check(c.ev, evidence.Options{Now: c.now})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// The genuine report is still accepted afterwards, and nothing was added.
	if _, err := v.Check(evidence.Evidence{Report: raw, Certs: certs}, evidence.Options{Now: w.now}); err != nil &&
		!errors.Is(err, evidence.ErrMeasurement) {
		t.Fatalf("genuine report after forgeries: %v", err)
	}
	if n := evidence.CachedChains(v); n != 2 {
		t.Errorf("%d cached chains after the forgeries, want 2", n)
	}
}

// TestChainCacheBounded checks more distinct certificates than the cache
// holds: it never grows past its bound and evicted certificates still verify.
func TestChainCacheBounded(t *testing.T) {
	w := newFixture(t)
	v := w.verifier(t, w.policy(nil))
	const limit = 3
	evidence.LimitChainCache(v, limit)
	o := w.options(nil)
	var all []evidence.Evidence
	for i := range 2*limit + 1 {
		raw, certs := w.mint(t, func(r *evidencetest.Report) { r.ChipID[1] = byte(i) })
		all = append(all, evidence.Evidence{Report: raw, Certs: certs})
		if _, err := v.Check(all[i], o); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if n := evidence.CachedChains(v); n > limit || n < min(i+1, limit) {
			t.Fatalf("after %d certificates the cache holds %d, want %d", i+1, n, min(i+1, limit))
		}
	}
	for i, ev := range all {
		if _, err := v.Check(ev, o); err != nil {
			t.Fatalf("report %d again: %v", i, err)
		}
	}
	if n := evidence.CachedChains(v); n != limit {
		t.Errorf("cache holds %d, want %d", n, limit)
	}
}

// TestChainCacheConcurrent shares one verifier between goroutines checking
// genuine reports and forgeries (run with -race).
func TestChainCacheConcurrent(t *testing.T) {
	w := newFixture(t)
	v := w.verifier(t, w.policy(nil))
	o := w.options(nil)
	var good []evidence.Evidence
	for i := range 2 {
		raw, certs := w.mint(t, func(r *evidencetest.Report) { r.ChipID[2] = byte(i) })
		good = append(good, evidence.Evidence{Report: raw, Certs: certs})
	}
	forged := evidence.Evidence{Report: slices.Clone(good[0].Report), Certs: good[0].Certs}
	forged.Report[0x90] ^= 1
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				if _, err := v.Check(good[(g+i)%2], o); err != nil {
					errs <- err
				}
				if _, err := v.Check(forged, o); !errors.Is(err, evidence.ErrSignature) {
					errs <- fmt.Errorf("forgery: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
