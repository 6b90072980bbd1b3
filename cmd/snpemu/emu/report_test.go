package emu

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/cvminit/cvminit/agent/snp"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
)

func TestReportVerifiesPerProduct(t *testing.T) {
	for _, line := range []string{"Milan", "Genoa", "Turin"} {
		st := newState(t, line)
		m, rd := measurement(1), reportData(2)
		report, table, err := newServer(t, st, Config{Measurement: m}).Report(rd, 0)
		if err != nil {
			t.Fatalf("%s: Report: %v", line, err)
		}
		a := attestation(t, report, table)
		if err := verifyWith(st, a); err != nil {
			t.Errorf("%s: verify with emulator roots: %v", line, err)
		}
		if err := verifyWith(nil, attestation(t, report, table)); err == nil {
			t.Errorf("%s: verify with AMD's roots passed", line)
		}
		if err := strictValidate(a, st, m, rd); err != nil {
			t.Errorf("%s: validate: %v", line, err)
		}
		checkFields(t, line, st, a.GetReport(), m, rd)
	}
}

// checkFields compares the parsed report with values fixed by the spec and by
// the VCEK certificate, read through go-sev-guest's kds package.
func checkFields(t *testing.T, line string, st *State, r *spb.Report, m [48]byte, rd [64]byte) {
	t.Helper()
	ext, err := kds.VcekCertificateExtensions(st.VCEK)
	if err != nil {
		t.Fatalf("%s: VCEK extensions: %v", line, err)
	}
	tcb := uint64(ext.TCBVersion)
	checks := []struct {
		name string
		ok   bool
	}{
		{"version 3", r.GetVersion() == 3},
		{"policy 0x30000", r.GetPolicy() == 0x30000},
		{"signature algo 1", r.GetSignatureAlgo() == 1},
		{"CPUID names the product line", kds.ProductLineFromFms(r.GetCpuid1EaxFms()) == line},
		{"CHIP_ID = VCEK HWID", bytes.Equal(r.GetChipId(), ext.HWID)},
		{"TCBs = VCEK TCB", r.GetReportedTcb() == tcb && r.GetCurrentTcb() == tcb &&
			r.GetCommittedTcb() == tcb && r.GetLaunchTcb() == tcb},
		{"REPORT_ID_MA all ones", bytes.Equal(r.GetReportIdMa(), bytes.Repeat([]byte{0xFF}, 32))},
		{"MEASUREMENT", bytes.Equal(r.GetMeasurement(), m[:])},
		{"REPORT_DATA", bytes.Equal(r.GetReportData(), rd[:])},
		{"VMPL 0", r.GetVmpl() == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %s does not hold", line, c.name)
		}
	}
}

func TestReportIDsDiffer(t *testing.T) {
	s := newServer(t, newState(t, "Milan"), Config{})
	a, _, _ := s.Report(reportData(0), 0)
	b, _, _ := s.Report(reportData(0), 0)
	if bytes.Equal(a[0x140:0x160], b[0x140:0x160]) {
		t.Fatal("two reports share a REPORT_ID")
	}
}

func TestReportBadVMPL(t *testing.T) {
	s := newServer(t, newState(t, "Milan"), Config{})
	if _, _, err := s.Report(reportData(0), 4); !errors.Is(err, ErrBadVMPL) {
		t.Fatalf("VMPL 4: err = %v, want ErrBadVMPL", err)
	}
	r, table, err := s.Report(reportData(0), 3)
	if err != nil || attestation(t, r, table).GetReport().GetVmpl() != 3 {
		t.Fatalf("VMPL 3: err = %v", err)
	}
}

func TestCertTableMatchesGoSevGuest(t *testing.T) {
	st := newState(t, "Genoa")
	_, table, err := newServer(t, st, Config{}).Report(reportData(0), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(table)%4096 != 0 || len(table) > 0x4000 {
		t.Errorf("table is %d bytes, want whole pages within 0x4000", len(table))
	}
	var ct abi.CertTable
	if err := ct.Unmarshal(table); err != nil {
		t.Fatal(err)
	}
	if len(ct.Entries) != 3 {
		t.Errorf("table has %d entries, want 3", len(ct.Entries))
	}
	for guid, want := range map[string]*x509.Certificate{abi.VcekGUID: st.VCEK, abi.AskGUID: st.ASK, abi.ArkGUID: st.ARK} {
		got, err := ct.GetByGUIDString(guid)
		if err != nil || !bytes.Equal(got, want.Raw) {
			t.Errorf("GUID %s: %v (got %d bytes, want %d)", guid, err, len(got), len(want.Raw))
		}
	}
}

func TestMisbehaviour(t *testing.T) {
	st := newState(t, "Milan")
	m, rd := measurement(9), reportData(9)
	vmpl2 := uint32(2)
	tests := []struct {
		name        string
		cfg         Config
		changed     func(r []byte) bool // the one visible change, read at the spec offset
		verifyFails bool
		ownErr      error // what the guest's own check says
	}{
		{"debug", Config{Debug: true}, func(r []byte) bool { return r[0x0A]&0x08 != 0 }, false, snp.ErrDebugPolicy},
		{"migration agent", Config{MigrationAgent: true}, func(r []byte) bool { return r[0x0A]&0x04 != 0 }, false, nil},
		{"lower tcb", Config{LowerTCB: true}, func(r []byte) bool {
			return kds.TCBVersion(le64(r[0x180:])) != st.TCB && le64(r[0x180:]) < uint64(st.TCB)
		}, false, nil},
		{"other product", Config{CPUIDProduct: "Genoa"}, func(r []byte) bool { return r[0x189] == 0x11 }, true, nil},
		{"vmpl", Config{ForceVMPL: &vmpl2}, func(r []byte) bool { return r[0x30] == 2 }, false, nil},
		{"wrong report data", Config{WrongReportData: true}, func(r []byte) bool { return !bytes.Equal(r[0x50:0x90], rd[:]) }, false, snp.ErrReportDataMismatch},
	}
	for _, tc := range tests {
		tc.cfg.Measurement = m
		report, table, err := newServer(t, st, tc.cfg).Report(rd, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !tc.changed(report) {
			t.Errorf("%s: report does not show the misbehaviour", tc.name)
		}
		if err := verifyWith(st, attestation(t, report, table)); (err != nil) != tc.verifyFails {
			t.Errorf("%s: verify err = %v, want failure %v", tc.name, err, tc.verifyFails)
		}
		if !tc.verifyFails {
			if err := strictValidate(attestation(t, report, table), st, m, rd); err == nil {
				t.Errorf("%s: strict validation passed", tc.name)
			}
		}
		if err := snp.CheckOwn(report, rd); !errors.Is(err, tc.ownErr) || (tc.ownErr == nil && err != nil) {
			t.Errorf("%s: CheckOwn = %v, want %v", tc.name, err, tc.ownErr)
		}
	}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestNewServerRejects(t *testing.T) {
	st := newState(t, "Milan")
	vmpl := uint32(4)
	for name, cfg := range map[string]Config{
		"unknown product": {CPUIDProduct: "Rome"},
		"vmpl 4":          {ForceVMPL: &vmpl},
	} {
		if _, err := NewServer(st, cfg); err == nil {
			t.Errorf("%s: NewServer accepted", name)
		}
	}
}
