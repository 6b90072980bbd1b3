package snp

import (
	"errors"
	"testing"

	"github.com/google/go-sev-guest/abi"
)

// TestCheckOwnPeerReports uses reports signed by real AMD hardware; the fields
// the check needs are read with go-sev-guest's abi parser, an independent
// implementation of the report layout.
func TestCheckOwnPeerReports(t *testing.T) {
	tests := []struct {
		file      string
		debug     bool
		wrongData bool
		wantErrs  []error
	}{
		{file: "trustee-milan-v2-report.bin"},
		{file: "trustee-milan-vlek-report.bin"},
		{file: "trustee-milan-v2-report.bin", wrongData: true, wantErrs: []error{ErrReportDataMismatch}},
		// go-sev-guest's test report was taken from a guest launched with DEBUG allowed.
		{file: "gosevguest-milan-v2-report.bin", debug: true, wantErrs: []error{ErrDebugPolicy}},
		{file: "gosevguest-milan-v2-report.bin", debug: true, wrongData: true,
			wantErrs: []error{ErrDebugPolicy, ErrReportDataMismatch}},
	}
	for _, tc := range tests {
		raw := peerVector(t, tc.file)
		proto, err := abi.ReportToProto(raw)
		if err != nil {
			t.Fatalf("%s: abi.ReportToProto: %v", tc.file, err)
		}
		pol, err := abi.ParseSnpPolicy(proto.GetPolicy())
		if err != nil || pol.Debug != tc.debug {
			t.Fatalf("%s: vector policy debug=%v (err %v), test expects %v", tc.file, pol.Debug, err, tc.debug)
		}
		var rd [64]byte
		copy(rd[:], proto.GetReportData())
		if tc.wrongData {
			rd[63] ^= 1
		}
		err = CheckOwn(raw, rd)
		if len(tc.wantErrs) == 0 && err != nil {
			t.Errorf("%s: CheckOwn = %v, want nil", tc.file, err)
		}
		for _, want := range tc.wantErrs {
			if !errors.Is(err, want) {
				t.Errorf("%s wrongData=%v: CheckOwn = %v, want %v", tc.file, tc.wrongData, err, want)
			}
		}
	}
}

func TestCheckOwnLength(t *testing.T) {
	for _, n := range []int{0, 0x4A0 - 1, 0x4A0 + 1} {
		if err := CheckOwn(make([]byte, n), [64]byte{}); !errors.Is(err, ErrMalformedReport) {
			t.Errorf("CheckOwn(%d bytes) = %v, want ErrMalformedReport", n, err)
		}
	}
}

func TestCheckEvidenceVMPL(t *testing.T) {
	rd := data(1)
	tests := []struct {
		reportVMPL, wantVMPL uint32
		want                 error
	}{
		{0, 0, nil},
		{2, 2, nil},
		{1, 0, ErrVMPLMismatch},
		{0, 3, ErrVMPLMismatch},
	}
	for _, tc := range tests {
		err := checkEvidence(&Evidence{Report: synthReport(rd, policyDefault, tc.reportVMPL)}, rd, tc.wantVMPL)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("report VMPL %d, want %d: err = %v, want %v", tc.reportVMPL, tc.wantVMPL, err, tc.want)
		}
	}
	if err := checkEvidence(&Evidence{Report: []byte{1}}, rd, 0); !errors.Is(err, ErrMalformedReport) {
		t.Errorf("short report: err = %v, want ErrMalformedReport", err)
	}
}

func TestNormalizeCertTable(t *testing.T) {
	if normalizeCertTable(make([]byte, 0x1000)) != nil {
		t.Error("all-zero table not treated as absent")
	}
	if normalizeCertTable(nil) != nil {
		t.Error("nil table not nil")
	}
	if got := normalizeCertTable([]byte{0, 1}); len(got) != 2 {
		t.Errorf("non-zero table changed: %v", got)
	}
}
