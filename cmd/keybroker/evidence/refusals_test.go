package evidence_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence/evidencetest"
)

// refusal is one row of the refusal table: a genuine minted report, changed
// as the row says, checked under the fixture's policy and options as changed.
type refusal struct {
	name    string
	policy  func(*evidence.Policy)
	report  func(*evidencetest.Report)
	raw     func([]byte) // applied after minting; the report is re-signed
	tamper  func([]byte) // applied after signing; the report is not re-signed
	options func(*evidence.Options)
	loadErr error   // NewVerifier must refuse the policy with it
	want    []error // exactly these sentinels; nil: accepted
}

func refusals(f *fixture) []refusal {
	set := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	flip := func(off int) func([]byte) { return func(b []byte) { b[off] ^= 1 } }
	tcb := func(v uint64) func(*evidencetest.Report) { return func(r *evidencetest.Report) { r.TCB = v } }
	crls := func(paths ...string) func(*evidence.Policy) { return func(p *evidence.Policy) { p.CRLs = paths } }
	skip := func(paths ...string) func(*evidence.Policy) {
		return func(p *evidence.Policy) { p.CRLs, p.InsecureSkipRevocation = paths, true }
	}
	vlek := func(r *evidencetest.Report) { r.VLEK = true }
	other := baseMeasurement
	other[5] ^= 1
	return []refusal{
		{name: "accepted"},
		{name: "VLEK accepted", report: vlek},
		// Authenticity.
		{name: "signed byte flipped, not re-signed", tamper: flip(0x90), want: []error{evidence.ErrSignature}},
		{name: "signature bit flipped", tamper: flip(0x2A0), want: []error{evidence.ErrSignature}},
		{name: "VCEK under another emulated ARK", policy: func(p *evidence.Policy) {
			p.TrustAMDRoots, p.ExtraRoots, p.CRLs = false, []string{f.otherRoots}, []string{f.otherARKCRL}
		}, want: []error{evidence.ErrUntrustedRoot}},
		{name: "non-AMD root without insecure_non_amd_roots", policy: func(p *evidence.Policy) { p.InsecureNonAMDRoots = false }, loadErr: evidence.ErrInvalidPolicy},
		{name: "reported TCB not the VCEK's", raw: set(0x180, 0x7308000000000102), want: []error{evidence.ErrCertificate}},
		{name: "CHIP_ID not the VCEK's", raw: func(b []byte) { b[0x1A0] ^= 0xFF }, want: []error{evidence.ErrCertificate}},
		// The emulated VCEK is valid from year 1, its ASK only from 2024: the
		// chain links to the trusted root but is not valid at that time.
		{name: "ASK not yet valid", options: func(o *evidence.Options) { o.Now = time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC) }, want: []error{evidence.ErrCertificate}},
		{name: "expired VCEK", options: func(o *evidence.Options) { o.Now = time.Date(2031, 6, 1, 0, 0, 0, 0, time.UTC) }, want: []error{evidence.ErrCertificate}},
		// Revocation.
		{name: "ASK revoked by the ARK's CRL", policy: crls(f.arkRevokesASK), want: []error{evidence.ErrRevoked}},
		{name: "ASK revoked, VLEK chain unaffected", report: vlek, policy: crls(f.arkRevokesASK)},
		{name: "ASVK revoked by the ARK's CRL", report: vlek, policy: crls(f.arkRevokesASVK), want: []error{evidence.ErrRevoked}},
		{name: "VCEK revoked by the ASK's CRL", policy: crls(f.arkCRL, f.askRevokesVCEK), want: []error{evidence.ErrRevoked}},
		{name: "VLEK revoked by the ASVK's CRL", report: vlek, policy: crls(f.arkCRL, f.asvkRevokesVLEK), want: []error{evidence.ErrRevoked}},
		{name: "ASK's CRL revoking another serial", policy: crls(f.arkCRL, f.askCRL)},
		{name: "stale ARK CRL", policy: crls(f.staleARKCRL), want: []error{evidence.ErrRevocation}},
		{name: "ARK CRL due at the check time", options: func(o *evidence.Options) { o.Now = fresh[1] }, want: []error{evidence.ErrRevocation}},
		{name: "stale and current ARK CRLs", policy: crls(f.staleARKCRL, f.arkCRL)},
		{name: "no CRL from the chain's ARK", policy: crls(f.askCRL), want: []error{evidence.ErrRevocation}},
		{name: "stale CRL revoking the ASK", policy: crls(f.staleRevokesASK), want: []error{evidence.ErrRevoked}},
		{name: "no CRL, revocation skipped", policy: skip()},
		{name: "stale CRL, revocation skipped", policy: skip(f.staleARKCRL)},
		{name: "revoked ASK, revocation skipped", policy: skip(f.arkRevokesASK), want: []error{evidence.ErrRevoked}},
		// Guest policy and VMPL.
		{name: "debug", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<19 }, want: []error{evidence.ErrDebug}},
		{name: "debug allowed", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<19 }, policy: func(p *evidence.Policy) { p.InsecureAllowDebug = true }},
		{name: "migration agent", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<18 }, want: []error{evidence.ErrMigrationAgent}},
		{name: "migration agent allowed", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<18 }, policy: func(p *evidence.Policy) { p.InsecureAllowMigrationAgent = true }},
		{name: "SMT forbidden", policy: func(p *evidence.Policy) { p.AllowSMT = false }, want: []error{evidence.ErrSMT}},
		{name: "single socket required", policy: func(p *evidence.Policy) { p.RequireSingleSocket = true }, want: []error{evidence.ErrGuestPolicy}},
		{name: "CXL", report: func(r *evidencetest.Report) { r.Policy = 0x30000 | 1<<21 }, want: []error{evidence.ErrGuestPolicy}},
		{name: "VMPL 1", report: func(r *evidencetest.Report) { r.VMPL = 1 }, want: []error{evidence.ErrVMPL}},
		{name: "VMPL 1 allowed", report: func(r *evidencetest.Report) { r.VMPL = 1 }, policy: func(p *evidence.Policy) { p.VMPL = ptr(1) }},
		{name: "debug and VMPL 1", report: func(r *evidencetest.Report) { r.VMPL, r.Policy = 1, 0x30000|1<<19 }, want: []error{evidence.ErrDebug, evidence.ErrVMPL}},
		// TCB: each component of REPORTED_TCB (and the VCEK) one below the minimum.
		{name: "bootloader SPL below minimum", report: tcb(0x7308000000000102), want: []error{evidence.ErrTCB}},
		{name: "TEE SPL below minimum", report: tcb(0x7308000000000003), want: []error{evidence.ErrTCB}},
		{name: "SNP SPL below minimum", report: tcb(0x7307000000000103), want: []error{evidence.ErrTCB}},
		{name: "microcode SPL below minimum", report: tcb(0x7208000000000103), want: []error{evidence.ErrTCB}},
		{name: "launch TCB below minimum", raw: set(0x1F0, 0x7308000000000102), want: []error{evidence.ErrTCB}},
		{name: "provisional TCB refused", raw: set(0x1E0, 0x7208000000000103), policy: func(p *evidence.Policy) { p.PermitProvisionalFirmware = false }, want: []error{evidence.ErrTCB}},
		{name: "provisional TCB permitted", raw: set(0x1E0, 0x7208000000000103)},
		{name: "committed firmware below current refused", raw: func(b []byte) { b[0x1EC]-- }, policy: func(p *evidence.Policy) { p.PermitProvisionalFirmware = false }, want: []error{evidence.ErrTCB}},
		{name: "committed firmware below current permitted", raw: func(b []byte) { b[0x1EC]-- }},
		{name: "committed TCB above current", raw: set(0x1E0, 0x7408000000000103), want: []error{evidence.ErrTCB}},
		{name: "committed firmware above current", raw: func(b []byte) { b[0x1EC]++ }, want: []error{evidence.ErrTCB}},
		{name: "report version 2 below minimum 3", report: func(r *evidencetest.Report) { r.Version = 2 }, policy: func(p *evidence.Policy) { p.MinReportVersion = 3 }, want: []error{evidence.ErrReportVersion}},
		{name: "report version 2 accepted", report: func(r *evidencetest.Report) { r.Version = 2 }},
		// Measurement, REPORT_DATA, HOST_DATA, ID key.
		{name: "measurement off by one byte", report: func(r *evidencetest.Report) { r.Measurement = other }, want: []error{evidence.ErrMeasurement}},
		{name: "empty allow-list with CheckMeasurement", policy: func(p *evidence.Policy) { p.AllowedMeasurements = nil }, want: []error{evidence.ErrMeasurement}},
		{name: "measurement allowed for this call", report: func(r *evidencetest.Report) { r.Measurement = other },
			options: func(o *evidence.Options) { o.AllowedMeasurements = [][]byte{bytes.Repeat([]byte{1}, 48), other[:]} }},
		{name: "per-call list alone turns the check on", policy: func(p *evidence.Policy) { p.AllowedMeasurements = nil },
			options: func(o *evidence.Options) { o.CheckMeasurement, o.AllowedMeasurements = false, [][]byte{other[:]} }, want: []error{evidence.ErrMeasurement}},
		{name: "per-call list alone, matching", policy: func(p *evidence.Policy) { p.AllowedMeasurements = nil },
			options: func(o *evidence.Options) {
				o.CheckMeasurement, o.AllowedMeasurements = false, [][]byte{baseMeasurement[:]}
			}},
		{name: "report data off by one byte", report: func(r *evidencetest.Report) { r.ReportData[63] = 3 }, want: []error{evidence.ErrReportData}},
		{name: "report data unchecked", report: func(r *evidencetest.Report) { r.ReportData[63] = 3 }, options: func(o *evidence.Options) { o.ReportData = nil }},
		{name: "host data mismatch", policy: func(p *evidence.Policy) { p.HostData = hex.EncodeToString(make([]byte, 31)) + "01" }, want: []error{evidence.ErrHostData}},
		{name: "host data pinned and equal", report: func(r *evidencetest.Report) { r.HostData[31] = 1 }, policy: func(p *evidence.Policy) { p.HostData = hex.EncodeToString(make([]byte, 31)) + "01" }},
		{name: "id key not trusted", policy: func(p *evidence.Policy) { p.IDKeyDigests = []string{hex.EncodeToString(bytes.Repeat([]byte{7}, 48))} }, want: []error{evidence.ErrIDKey}},
		// Product line.
		{name: "wrong product", options: func(o *evidence.Options) { o.Product = "Genoa" }, want: []error{evidence.ErrProduct}},
		{name: "policy product Genoa", policy: func(p *evidence.Policy) { p.Product = "Genoa" }, want: []error{evidence.ErrProduct}},
		{name: "policy product Milan", policy: func(p *evidence.Policy) { p.Product = "Milan" }},
		{name: "v2 report, policy product Genoa", report: func(r *evidencetest.Report) { r.Version = 2 }, policy: func(p *evidence.Policy) { p.Product = "Genoa" }, want: []error{evidence.ErrProduct}},
		{name: "Options.Product before the policy's", policy: func(p *evidence.Policy) { p.Product = "Genoa" }, options: func(o *evidence.Options) { o.Product = "Milan" }},
	}
}

func TestMintedRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range refusals(f) {
		t.Run(c.name, func(t *testing.T) {
			raw, certs := f.mint(t, c.report)
			c.change(t, raw)
			p := f.policy(c.policy)
			if c.loadErr != nil {
				if _, err := evidence.NewVerifier(p, quiet); !errors.Is(err, c.loadErr) {
					t.Fatalf("NewVerifier: err = %v, want %v", err, c.loadErr)
				}
				return
			}
			checkOutcome(t, p, evidence.Evidence{Report: raw, Certs: certs}, f.options(c.options), c.want)
		})
	}
}

// change applies the row's raw edit (re-signing) and then its tampering.
func (c refusal) change(t *testing.T, raw []byte) {
	t.Helper()
	if c.raw != nil {
		c.raw(raw)
		if err := testChain(t).Resign(raw); err != nil {
			t.Fatal(err)
		}
	}
	if c.tamper != nil {
		c.tamper(raw)
	}
}

func TestMintedRejectedByAMDRootsOnly(t *testing.T) {
	raw, certs, err := testChain(t).Mint(evidencetest.Report{TCB: baseTCB, ChipID: baseChipID})
	if err != nil {
		t.Fatal(err)
	}
	p := evidence.DefaultPolicy()
	p.InsecureSkipRevocation = true
	_, err = evidence.Check(evidence.Evidence{Report: raw, Certs: certs}, &p, evidence.Options{Now: asOf})
	if !errors.Is(err, evidence.ErrUntrustedRoot) {
		t.Fatalf("emulated report against AMD roots: err = %v, want ErrUntrustedRoot", err)
	}
}
