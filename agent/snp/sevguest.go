// The SNP_GET_EXT_REPORT request sequence below is written by hand instead of
// calling go-sev-guest's client.GetRawExtendedReportAtVmpl: go-sev-guest's
// client and abi packages import google.golang.org/protobuf (through the
// proto/sevsnp types), about 3 MB of PID 1 in an initramfs budgeted at 4 MiB,
// for two ioctls. The kernel ABI structs, ioctl numbers and pointer
// conversion still come from go-sev-guest's client/linuxabi, which imports
// nothing but the standard library.

package snp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	labi "github.com/google/go-sev-guest/client/linuxabi"
)

// ExtendedReporter is the /dev/sev-guest seam: one SNP_GET_EXT_REPORT request.
type ExtendedReporter interface {
	ExtendedReport(reportData [64]byte, vmpl uint32) (report, certTable []byte, err error)
}

// SevGuest gets extended reports (report plus certificate table) from the
// sev-guest driver's ioctl interface, for kernels without configfs-tsm.
type SevGuest struct {
	Dev ExtendedReporter
}

func (s *SevGuest) String() string { return NameSevGuest }

func openSevGuest(opts Options) (Provider, error) {
	if opts.SevGuest != nil {
		return &SevGuest{Dev: opts.SevGuest}, nil
	}
	dev, err := deviceReporter(filepath.Join(opts.devRoot(), "sev-guest"))
	if err != nil {
		return nil, fmt.Errorf("opening /dev/sev-guest: %w", err)
	}
	return &SevGuest{Dev: dev}, nil
}

// GetReport requests an extended report at VMPL 0 binding reportData.
func (s *SevGuest) GetReport(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sev-guest report: %w", err)
	}
	report, certs, err := s.Dev.ExtendedReport(reportData, 0)
	if err != nil {
		return nil, fmt.Errorf("sev-guest extended report: %w", err)
	}
	ev := &Evidence{Report: report, CertTable: normalizeCertTable(certs)}
	if err := checkEvidence(ev, reportData, 0); err != nil {
		return nil, fmt.Errorf("checking the sev-guest report: %w", err)
	}
	return ev, nil
}

const (
	// guestRequestInvalidLength is the driver's exitinfo2 when the certificate
	// buffer is too small: SNP_GUEST_VMM_ERR(SNP_GUEST_VMM_ERR_INVALID_LEN),
	// VMM error 1 in the upper 32 bits (include/uapi/linux/sev-guest.h); it
	// is go-sev-guest's abi.GuestRequestInvalidLength. The driver then writes
	// the length the host needs into certs_len.
	guestRequestInvalidLength = 1 << 32

	// maxCertsLength bounds the certificate buffer the host may ask for. The
	// kernel rejects certs_len above SEV_FW_BLOB_MAX_SIZE (0x4000, 16 KiB, in
	// include/linux/psp-sev.h; patches proposed 0x5000) with EINVAL, so a
	// larger request can never succeed; 64 KiB leaves room for kernels that
	// raise the limit while keeping a hostile host from sizing PID 1's
	// allocations.
	maxCertsLength = 64 << 10
)

// Sentinel errors of the SNP_GET_EXT_REPORT sequence.
var (
	errCertsLength = errors.New("certificate length asked for by the sev-guest driver is out of bounds")
	errResponse    = errors.New("sev-guest report response is malformed")
)

// firmwareError is a failed guest request's exitinfo2 ("fw_err" in
// go-sev-guest): the firmware status in the lower 32 bits (SEV-SNP ABI
// specification, "Status Codes"), a VMM error in the upper 32.
type firmwareError struct{ exitinfo2 uint64 }

func (e *firmwareError) Error() string {
	if e.exitinfo2 == guestRequestInvalidLength {
		return "sev-guest certificate buffer too small (exitinfo2 0x100000000, VMM error INVALID_LEN)"
	}
	return fmt.Sprintf("sev-guest firmware error: exitinfo2 %#x (firmware status %#x, VMM error %d)",
		e.exitinfo2, uint32(e.exitinfo2), e.exitinfo2>>32)
}

// ioctlDevice is /dev/sev-guest as the request sequence sees it: one ioctl
// taking a *linuxabi.SnpUserGuestRequest, with FwErr set only when the driver
// failed with EIO. It is go-sev-guest's client.Device without Open, Close
// and Product (whose return type is a protobuf message).
type ioctlDevice interface {
	Ioctl(command uintptr, req any) (uintptr, error)
}

// extendedReport does what go-sev-guest's client.GetRawExtendedReportAtVmpl
// does: it asks for the certificate length with an empty buffer (the driver
// fails with guestRequestInvalidLength and writes the length), then requests
// the report binding reportData at vmpl together with the certificates. It is
// stricter: it bounds the length, and the second request must succeed with
// STATUS 0 and a REPORT_SIZE of exactly ReportSize.
func extendedReport(d ioctlDevice, reportData [64]byte, vmpl uint32) (report, certs []byte, err error) {
	length, err := queryCertsLength(d, vmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("querying the certificate length: %w", err)
	}
	certs = make([]byte, length)
	report, err = reportWithCerts(d, reportData, vmpl, certs)
	if err != nil {
		return nil, nil, fmt.Errorf("requesting the report with %d certificate bytes: %w", length, err)
	}
	return report, certs, nil
}

// queryCertsLength issues SNP_GET_EXT_REPORT without a certificate buffer.
// Success means the host has no certificates (length 0).
func queryCertsLength(d ioctlDevice, vmpl uint32) (uint32, error) {
	req := &labi.SnpExtendedReportReq{Data: labi.SnpReportReqABI{Vmpl: vmpl}}
	var fw *firmwareError
	err := guestRequest(d, req, &labi.SnpReportRespABI{})
	switch {
	case err == nil:
	case errors.As(err, &fw) && fw.exitinfo2 == guestRequestInvalidLength:
		if req.CertsLength == 0 {
			return 0, fmt.Errorf("%w: buffer too small yet 0 bytes needed", errCertsLength)
		}
	default:
		return 0, err
	}
	if req.CertsLength > maxCertsLength {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", errCertsLength, req.CertsLength, maxCertsLength)
	}
	return req.CertsLength, nil
}

// reportWithCerts issues SNP_GET_EXT_REPORT with certs as the buffer and
// returns a copy of the report from the MSG_REPORT_RSP (SEV-SNP ABI
// specification, table "MSG_REPORT_RSP Message Structure": STATUS at 0x0,
// REPORT_SIZE at 0x4, the report at 0x20).
func reportWithCerts(d ioctlDevice, reportData [64]byte, vmpl uint32, certs []byte) ([]byte, error) {
	req := &labi.SnpExtendedReportReq{
		Data:        labi.SnpReportReqABI{ReportData: reportData, Vmpl: vmpl},
		Certs:       certs,
		CertsLength: uint32(len(certs)),
	}
	var resp labi.SnpReportRespABI
	if err := guestRequest(d, req, &resp); err != nil {
		return nil, err
	}
	if resp.Status != 0 {
		return nil, fmt.Errorf("%w: STATUS %#x", errResponse, resp.Status)
	}
	if resp.ReportSize != ReportSize {
		return nil, fmt.Errorf("%w: REPORT_SIZE %#x, want %#x", errResponse, resp.ReportSize, ReportSize)
	}
	return bytes.Clone(resp.Data[:ReportSize]), nil
}

// guestRequest is one SNP_GET_EXT_REPORT ioctl. Like go-sev-guest's client,
// a failure with FwErr set is a firmwareError, and a successful ioctl must
// also report the GHCB result EsOk.
func guestRequest(d ioctlDevice, req *labi.SnpExtendedReportReq, resp *labi.SnpReportRespABI) error {
	ureq := &labi.SnpUserGuestRequest{ReqData: req, RespData: resp}
	result, err := d.Ioctl(labi.IocSnpGetExtendedReport, ureq)
	if err != nil {
		if ureq.FwErr != 0 {
			return fmt.Errorf("SNP_GET_EXT_REPORT: %w: %w", &firmwareError{ureq.FwErr}, err)
		}
		return fmt.Errorf("SNP_GET_EXT_REPORT: %w", err)
	}
	if result != uintptr(labi.EsOk) {
		return fmt.Errorf("SNP_GET_EXT_REPORT: GHCB result %d: %w", result, &labi.SevEsErr{Result: labi.EsResult(result)})
	}
	return nil
}
