package evidence

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-sev-guest/validate"
)

const vectorDir = "../../../../shared/peer-vectors/snp-reports"

var asOf = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// authenticVector authenticates a real AMD report (trustee-milan-v2 or
// gosevguest-milan-v2) with AMD's roots.
func authenticVector(t *testing.T, name, certName string) *authentic {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(filepath.Join(vectorDir, certName))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := AMDRoots()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	a, err := newVerifier(&p, roots, nil).authenticate(Evidence{Report: raw, Certs: []Cert{{"VCEK", der}}}, Options{Now: asOf})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestValidateOptionsCarryThePolicy runs go-sev-guest validate alone with the
// options built from each policy, so the second gate refuses on its own what
// this package's checks refuse.
func TestValidateOptionsCarryThePolicy(t *testing.T) {
	// trustee-milan-v2: POLICY 0x3001f (SMT, not single socket), VMPL 0,
	// REPORTED_TCB 0x7308000000000003, measurement at 0x90.
	a := authenticVector(t, "trustee-milan-v2-report.bin", "trustee-milan-vcek.der")
	other := strings.Repeat("ab", 48)
	cases := []struct {
		name   string
		policy func(*Policy)
		opts   Options
		refuse bool
	}{
		{"defaults accept", func(*Policy) {}, Options{}, false},
		{"own measurement accepted", func(p *Policy) { p.AllowedMeasurements = []string{other, hex.EncodeToString(a.raw[0x90:0xC0])} }, Options{}, false},
		{"measurement", func(p *Policy) { p.AllowedMeasurements = []string{other} }, Options{}, true},
		{"own measurement for this call", func(p *Policy) { p.AllowedMeasurements = []string{other} },
			Options{AllowedMeasurements: [][]byte{bytes.Repeat([]byte{1}, 48), a.raw[0x90:0xC0]}}, false},
		{"measurement for this call", func(*Policy) {}, Options{AllowedMeasurements: [][]byte{bytes.Repeat([]byte{1}, 48)}}, true},
		{"report data", func(*Policy) {}, Options{ReportData: &[64]byte{1}}, true},
		{"host data", func(p *Policy) { p.HostData = strings.Repeat("01", 32) }, Options{}, true},
		{"vmpl", func(p *Policy) { p.VMPL = new(int); *p.VMPL = 2 }, Options{}, true},
		{"smt", func(p *Policy) { p.AllowSMT = false }, Options{}, true},
		{"single socket", func(p *Policy) { p.RequireSingleSocket = true }, Options{}, true},
		{"reported tcb", func(p *Policy) { p.MinTCB = TCBMinimum{SNP: 9} }, Options{}, true},
		{"provisional", func(p *Policy) { p.PermitProvisionalFirmware = false }, Options{}, true},
		{"id key", func(p *Policy) { p.IDKeyDigests = []string{other} }, Options{}, true},
	}
	for _, c := range cases {
		p := DefaultPolicy()
		c.policy(&p)
		pol := compile(&p)
		err := validate.SnpAttestation(a.att, pol.validateOptions(a, c.opts))
		if (err != nil) != c.refuse {
			t.Errorf("%s: validate err = %v, want refusal %v", c.name, err, c.refuse)
		}
	}
}

func TestValidateOptionsDebug(t *testing.T) {
	a := authenticVector(t, "gosevguest-milan-v2-report.bin", "gosevguest-milan-vcek.der") // POLICY 0xb0000: DEBUG
	p := DefaultPolicy()
	pol := compile(&p)
	if err := validate.SnpAttestation(a.att, pol.validateOptions(a, Options{})); err == nil {
		t.Error("validate accepted a DEBUG guest under a policy that forbids it")
	}
	if err := pol.check(a, Options{}); !errors.Is(err, ErrDebug) {
		t.Errorf("check: %v, want ErrDebug", err)
	}
}

// TestNoRootsNoFallback: go-sev-guest falls back to its built-in roots when
// given none; an empty Roots must refuse instead.
func TestNoRootsNoFallback(t *testing.T) {
	raw, _ := os.ReadFile(filepath.Join(vectorDir, "trustee-milan-v2-report.bin"))
	der, _ := os.ReadFile(filepath.Join(vectorDir, "trustee-milan-vcek.der"))
	p := DefaultPolicy()
	v := newVerifier(&p, &Roots{lines: map[string]*lineRoots{}}, nil)
	_, err := v.Check(Evidence{Report: raw, Certs: []Cert{{"VCEK", der}}}, Options{Now: asOf})
	if !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("err = %v, want ErrUntrustedRoot", err)
	}
}

func TestLineFromCPUID(t *testing.T) {
	// Ranges from REFERENCE.md section 2.
	cases := []struct {
		fam, model byte
		want       string
		err        error
	}{
		{0x19, 0x00, "Milan", nil}, {0x19, 0x01, "Milan", nil}, {0x19, 0x0F, "Milan", nil},
		{0x19, 0x10, "Genoa", nil}, {0x19, 0x11, "Genoa", nil}, {0x19, 0x1F, "Genoa", nil},
		{0x19, 0xA0, "Genoa", nil}, {0x19, 0xAF, "Genoa", nil},
		{0x1A, 0x00, "Turin", nil}, {0x1A, 0x11, "Turin", nil},
		{0x1A, 0x02, "Turin", nil}, {0x1A, 0x10, "Turin", nil},
		{0x19, 0x20, "", ErrProduct}, {0x19, 0x9F, "", ErrProduct}, {0x19, 0xB0, "", ErrProduct}, {0x19, 0xFF, "", ErrProduct},
		{0x1A, 0x12, "", ErrProduct}, {0x1A, 0x20, "", ErrProduct}, {0x1B, 0x00, "", ErrProduct}, {0x17, 0x31, "", ErrProduct},
		{0, 0, "", nil},
	}
	for _, c := range cases {
		raw := make([]byte, reportSize)
		raw[offCPUIDFamily], raw[offCPUIDModel] = c.fam, c.model
		got, err := lineFromCPUID(raw)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("family 0x%x model 0x%x: %q, %v; want %q, %v", c.fam, c.model, got, err, c.want, c.err)
		}
	}
}

func TestTCBLayouts(t *testing.T) {
	m := TCBMinimum{FMC: 1, Bootloader: 2, TEE: 3, SNP: 4, Microcode: 5}
	// Milan/Genoa: BL byte 0, TEE byte 1, SNP byte 6, microcode byte 7.
	if got := tcbBytes(m, "Milan"); got != 0x0504000000000302 {
		t.Errorf("Milan layout 0x%016x", got)
	}
	// Turin: FMC byte 0, BL 1, TEE 2, SNP 3, microcode 7.
	if got := tcbBytes(m, "Turin"); got != 0x0500000004030201 {
		t.Errorf("Turin layout 0x%016x", got)
	}
	if d := decodeTCB(0x0500000004030201, "Turin"); d.FMC != 1 || d.Bootloader != 2 || d.TEE != 3 || d.SNP != 4 || d.Microcode != 5 {
		t.Errorf("Turin decode %+v", d)
	}
	if !tcbAtLeast(0x7308000000000003, 0x7308000000000003) || tcbAtLeast(0x7308000000000003, 0x0009000000000000) ||
		tcbAtLeast(0x0100000000000000, 0x00000000000000FF) {
		t.Error("tcbAtLeast must compare component by component")
	}
}
