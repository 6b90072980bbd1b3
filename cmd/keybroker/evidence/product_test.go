package evidence_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence/evidencetest"
)

// TestMintedProductLines mints Genoa and Turin reports at the edges of
// their CPUID model ranges (REFERENCE.md section 2) under emulated chains
// of those lines: the line comes from CPUID, and a model outside the ranges
// is refused with ErrProduct.
func TestMintedProductLines(t *testing.T) {
	cases := []struct {
		product string // KDS product name of the chain
		cpuid   [3]byte
		want    string // "" for ErrProduct
	}{
		{"Genoa-B1", [3]byte{0x19, 0x10, 0x01}, "Genoa"},
		{"Genoa-B1", [3]byte{0x19, 0x1F, 0x01}, "Genoa"},
		{"Genoa-B1", [3]byte{0x19, 0xA0, 0x01}, "Genoa"},
		{"Genoa-B1", [3]byte{0x19, 0xAF, 0x01}, "Genoa"},
		{"Genoa-B1", [3]byte{0x19, 0x20, 0x01}, ""},
		{"Turin-B0", [3]byte{0x1A, 0x00, 0x00}, "Turin"},
		{"Turin-B0", [3]byte{0x1A, 0x11, 0x00}, "Turin"},
		{"Turin-B0", [3]byte{0x1A, 0x12, 0x00}, ""},
	}
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	chains := map[string]*evidencetest.Chain{}
	for _, c := range cases {
		chain := chains[c.product]
		if chain == nil {
			var err error
			if chain, err = evidencetest.NewChain(c.product, created); err != nil {
				t.Fatal(err)
			}
			chains[c.product] = chain
		}
		roots := filepath.Join(t.TempDir(), "roots.pem")
		if err := chain.WriteRoots(roots); err != nil {
			t.Fatal(err)
		}
		raw, certs, err := chain.Mint(evidencetest.Report{TCB: baseTCB, ChipID: baseChipID, CPUID: c.cpuid})
		if err != nil {
			t.Fatal(err)
		}
		p := evidence.DefaultPolicy()
		p.TrustAMDRoots, p.ExtraRoots, p.InsecureNonAMDRoots, p.InsecureSkipRevocation = false, []string{roots}, true, true
		v, err := evidence.NewVerifier(&p, quiet)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Check(evidence.Evidence{Report: raw, Certs: certs}, evidence.Options{Now: fixtureNow})
		switch {
		case c.want == "" && !errors.Is(err, evidence.ErrProduct):
			t.Errorf("%s CPUID %x: err = %v, want ErrProduct", c.product, c.cpuid, err)
		case c.want != "" && (err != nil || res.Product != c.want):
			t.Errorf("%s CPUID %x: err = %v, result %+v; want product %s", c.product, c.cpuid, err, res, c.want)
		}
	}
}
