package evidence_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence/evidencetest"
)

// chainOnce generates the emulated chain once per test binary (RSA key
// generation is the slow part).
var chainOnce = sync.OnceValues(func() (*evidencetest.Chain, error) {
	return evidencetest.NewChain("Milan-B0", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
})

func testChain(t testing.TB) *evidencetest.Chain {
	t.Helper()
	c, err := chainOnce()
	if err != nil {
		t.Fatalf("emulated chain: %v", err)
	}
	return c
}

// Base values of the minted reports: TCB bootloader 3, tee 0, snp 8,
// microcode 115 in the Milan layout.
const baseTCB = 0x7308000000000003

var (
	baseMeasurement = [48]byte{0: 0xAA, 47: 0x55}
	baseReportData  = [64]byte{0: 1, 63: 2}
	baseChipID      = [64]byte{0: 0xC1, 63: 0x1D}
)

type refusal struct {
	name    string
	policy  func(*evidence.Policy)
	report  func(*evidencetest.Report)
	raw     func([]byte) // applied after minting; the report is re-signed
	options func(*evidence.Options)
	want    []error // nil: accepted
}

func refusals() []refusal {
	set := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	return []refusal{
		{name: "accepted"},
		{name: "VLEK accepted", report: func(r *evidencetest.Report) { r.VLEK = true }},
		{name: "measurement not allowed", report: func(r *evidencetest.Report) { r.Measurement[5] ^= 1 }, want: []error{evidence.ErrMeasurement}},
		{name: "empty allow-list with CheckMeasurement", policy: func(p *evidence.Policy) { p.AllowedMeasurements = nil }, want: []error{evidence.ErrMeasurement}},
		{name: "debug", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<19 }, want: []error{evidence.ErrDebug}},
		{name: "debug allowed", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<19 }, policy: func(p *evidence.Policy) { p.AllowDebug = true }},
		{name: "migration agent", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<18 }, want: []error{evidence.ErrMigrationAgent}},
		{name: "SMT forbidden", policy: func(p *evidence.Policy) { p.AllowSMT = false }, want: []error{evidence.ErrSMT}},
		{name: "single socket required", policy: func(p *evidence.Policy) { p.RequireSingleSocket = true }, want: []error{evidence.ErrGuestPolicy}},
		{name: "CXL", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<21 }, want: []error{evidence.ErrGuestPolicy}},
		{name: "VMPL 1", report: func(r *evidencetest.Report) { r.VMPL = 1 }, want: []error{evidence.ErrVMPL}},
		{name: "VMPL 1 allowed", report: func(r *evidencetest.Report) { r.VMPL = 1 }, policy: func(p *evidence.Policy) { p.VMPL = ptr(1) }},
		{name: "snp SPL below minimum", report: func(r *evidencetest.Report) { r.TCB = 0x7307000000000003 }, want: []error{evidence.ErrTCB}},
		{name: "microcode below minimum", report: func(r *evidencetest.Report) { r.TCB = 0x7208000000000003 }, want: []error{evidence.ErrTCB}},
		{name: "launch TCB below minimum", raw: set(0x1F0, 0x7308000000000002), want: []error{evidence.ErrTCB}},
		{name: "provisional firmware refused", raw: set(0x1E0, 0x7208000000000003), policy: func(p *evidence.Policy) { p.PermitProvisionalFirmware = false }, want: []error{evidence.ErrTCB}},
		{name: "provisional firmware permitted", raw: set(0x1E0, 0x7208000000000003)},
		{name: "committed TCB above current", raw: set(0x1E0, 0x7408000000000003), want: []error{evidence.ErrTCB}},
		{name: "committed firmware above current", raw: func(b []byte) { b[0x1EC]++ }, want: []error{evidence.ErrTCB}},
		{name: "report version 2 below minimum 3", report: func(r *evidencetest.Report) { r.Version = 2 }, policy: func(p *evidence.Policy) { p.MinReportVersion = 3 }, want: []error{evidence.ErrReportVersion}},
		{name: "report version 2 accepted", report: func(r *evidencetest.Report) { r.Version = 2 }},
		{name: "report data mismatch", report: func(r *evidencetest.Report) { r.ReportData[63] = 3 }, want: []error{evidence.ErrReportData}},
		{name: "report data unchecked", report: func(r *evidencetest.Report) { r.ReportData[63] = 3 }, options: func(o *evidence.Options) { o.ReportData = nil }},
		{name: "host data mismatch", policy: func(p *evidence.Policy) { p.HostData = hex.EncodeToString(make([]byte, 31)) + "01" }, want: []error{evidence.ErrHostData}},
		{name: "id key not trusted", policy: func(p *evidence.Policy) { p.IDKeyDigests = []string{hex.EncodeToString(bytes.Repeat([]byte{7}, 48))} }, want: []error{evidence.ErrIDKey}},
		{name: "wrong product", options: func(o *evidence.Options) { o.Product = "Genoa" }, want: []error{evidence.ErrProduct}},
		{name: "reported TCB not the VCEK's", raw: set(0x180, 0x7308000000000002), want: []error{evidence.ErrCertificate}},
		{name: "CHIP_ID not the VCEK's", raw: func(b []byte) { b[0x1A0] ^= 0xFF }, want: []error{evidence.ErrCertificate}},
		{name: "debug and VMPL 1", report: func(r *evidencetest.Report) { r.VMPL, r.Policy = 1, 0x30000|1<<19 }, want: []error{evidence.ErrDebug, evidence.ErrVMPL}},
		// The emulated VCEK is valid from year 1, its ASK only from 2024: the
		// chain links to the trusted root but is not valid at that time.
		{name: "ASK not yet valid", options: func(o *evidence.Options) { o.Now = time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC) }, want: []error{evidence.ErrCertificate}},
		{name: "expired VCEK", options: func(o *evidence.Options) { o.Now = time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC) }, want: []error{evidence.ErrCertificate}},
	}
}

func TestMintedRefusals(t *testing.T) {
	chain := testChain(t)
	rootsPath := filepath.Join(t.TempDir(), "emu.pem")
	if err := chain.WriteRoots(rootsPath); err != nil {
		t.Fatal(err)
	}
	for _, c := range refusals() {
		t.Run(c.name, func(t *testing.T) {
			rep := evidencetest.Report{Measurement: baseMeasurement, ReportData: baseReportData, ChipID: baseChipID, TCB: baseTCB}
			apply(c.report, &rep)
			raw, certs, err := chain.Mint(rep)
			if err != nil {
				t.Fatal(err)
			}
			if c.raw != nil {
				c.raw(raw)
				if err := chain.Resign(raw); err != nil {
					t.Fatal(err)
				}
			}
			p := evidence.DefaultPolicy()
			p.ExtraRoots = []string{rootsPath}
			p.AllowedMeasurements = []string{hex.EncodeToString(baseMeasurement[:])}
			p.MinTCB = evidence.TCBMinimum{Bootloader: 3, TEE: 0, SNP: 8, Microcode: 115}
			apply(c.policy, &p)
			rd := baseReportData
			o := evidence.Options{Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), ReportData: &rd, CheckMeasurement: true}
			apply(c.options, &o)
			checkOutcome(t, &p, evidence.Evidence{Report: raw, Certs: certs}, o, c.want)
		})
	}
}

// quiet discards the non-AMD root warnings (TestRootWarning checks them).
var quiet = slog.New(slog.DiscardHandler)

func apply[T any](f func(*T), v *T) {
	if f != nil {
		f(v)
	}
}

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
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("err = %v, want it to wrap %v", err, w)
		}
	}
	if evidence.Reason(err) == "internal_error" {
		t.Errorf("Reason(%v) found no sentinel", err)
	}
}

func TestMintedRejectedByAMDRootsOnly(t *testing.T) {
	raw, certs, err := testChain(t).Mint(evidencetest.Report{TCB: baseTCB, ChipID: baseChipID})
	if err != nil {
		t.Fatal(err)
	}
	p := evidence.DefaultPolicy()
	_, err = evidence.Check(evidence.Evidence{Report: raw, Certs: certs}, &p, evidence.Options{Now: asOf})
	if !errors.Is(err, evidence.ErrUntrustedRoot) {
		t.Fatalf("emulated report against AMD roots: err = %v, want ErrUntrustedRoot", err)
	}
}
