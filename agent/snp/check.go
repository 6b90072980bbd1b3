package snp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Offsets into ATTESTATION_REPORT (SEV-SNP ABI specification, table
// "ATTESTATION_REPORT Structure"), little-endian.
const (
	offPolicy     = 0x08 // u64 guest POLICY
	offVMPL       = 0x30 // u32 VMPL the report was requested at
	offReportData = 0x50 // [64] REPORT_DATA supplied by the guest
	endReportData = 0x90

	policyDebugBit = 19 // POLICY bit 19: DEBUG allowed
)

// Sentinel errors for reports the guest must not use.
var (
	ErrMalformedReport    = errors.New("SNP report is malformed")
	ErrDebugPolicy        = errors.New("SNP report's guest policy allows debugging (POLICY bit 19)")
	ErrReportDataMismatch = errors.New("SNP report's REPORT_DATA differs from the requested data")
	ErrVMPLMismatch       = errors.New("SNP report's VMPL differs from the requested VMPL")
)

// CheckOwn checks the guest's own report before it is sent anywhere: it must be
// ReportSize bytes, carry reportData at offset 0x50, and its POLICY must not
// have the DEBUG bit set (a debuggable guest's memory is readable by the host,
// so nothing it attests to is worth a key). Independent failures are joined.
func CheckOwn(report []byte, reportData [64]byte) error {
	if len(report) != ReportSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMalformedReport, len(report), ReportSize)
	}
	var errs []error
	policy := binary.LittleEndian.Uint64(report[offPolicy:])
	if policy&(1<<policyDebugBit) != 0 {
		errs = append(errs, fmt.Errorf("%w: policy %#x", ErrDebugPolicy, policy))
	}
	if !bytes.Equal(report[offReportData:endReportData], reportData[:]) {
		errs = append(errs, ErrReportDataMismatch)
	}
	return errors.Join(errs...)
}

// checkEvidence applies CheckOwn and the VMPL check to what a provider got.
func checkEvidence(ev *Evidence, reportData [64]byte, vmpl uint32) error {
	if len(ev.Report) != ReportSize {
		return CheckOwn(ev.Report, reportData)
	}
	var vmplErr error
	if got := binary.LittleEndian.Uint32(ev.Report[offVMPL:]); got != vmpl {
		vmplErr = fmt.Errorf("%w: got %d, want %d", ErrVMPLMismatch, got, vmpl)
	}
	return errors.Join(CheckOwn(ev.Report, reportData), vmplErr)
}

// normalizeCertTable returns nil for an absent or all-zero certificate table,
// which is how the kernel says the host supplied no certificates.
func normalizeCertTable(t []byte) []byte {
	for _, b := range t {
		if b != 0 {
			return t
		}
	}
	return nil
}
