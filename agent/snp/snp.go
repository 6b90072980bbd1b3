// Package snp obtains SEV-SNP attestation reports for the guest: from
// configfs-tsm, from /dev/sev-guest, or from the snpemu emulator over a
// virtio-serial port.
package snp

import "context"

// ReportSize is the size of a raw ATTESTATION_REPORT.
const ReportSize = 0x4A0

// Evidence is what the security processor returns for one request. CONTRACT.
type Evidence struct {
	Report    []byte // raw 0x4A0-byte report
	CertTable []byte // GUID certificate table as in SNP_GET_EXT_REPORT; empty when the host supplied none
}

// Provider returns a report binding reportData. CONTRACT.
type Provider interface {
	GetReport(ctx context.Context, reportData [64]byte) (*Evidence, error)
}
