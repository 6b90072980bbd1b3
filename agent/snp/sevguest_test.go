package snp

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/client"
	labi "github.com/google/go-sev-guest/client/linuxabi"
	sgtest "github.com/google/go-sev-guest/testing"
)

type fakeDevice struct {
	policy   uint64
	vmpl     uint32 // VMPL the report claims
	certs    []byte
	err      error
	askedFor uint32
}

func (f *fakeDevice) ExtendedReport(rd [64]byte, vmpl uint32) ([]byte, []byte, error) {
	f.askedFor = vmpl
	if f.err != nil {
		return nil, nil, f.err
	}
	return synthReport(rd, f.policy, f.vmpl), f.certs, nil
}

func TestSevGuest(t *testing.T) {
	ioctlErr := errors.New("EIO")
	tests := []struct {
		name string
		dev  *fakeDevice
		want error
	}{
		{"ok", &fakeDevice{policy: policyDefault, certs: []byte{1}}, nil},
		{"ioctl error", &fakeDevice{err: ioctlErr}, ioctlErr},
		{"debug", &fakeDevice{policy: policyDebug}, ErrDebugPolicy},
		{"vmpl", &fakeDevice{policy: policyDefault, vmpl: 3}, ErrVMPLMismatch},
	}
	for _, tc := range tests {
		p, err := Open(NameSevGuest, Options{SevGuest: tc.dev})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := p.GetReport(context.Background(), data(7))
		if tc.dev.askedFor != 0 {
			t.Errorf("%s: requested VMPL %d, want 0", tc.name, tc.dev.askedFor)
		}
		if tc.want != nil {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || len(ev.Report) != ReportSize || len(ev.CertTable) != 1 {
			t.Errorf("%s: GetReport = %v, %v", tc.name, ev, err)
		}
	}
}

// invalidLen is the driver's exitinfo2 for too small a certificate buffer:
// VMM error SNP_GUEST_VMM_ERR_INVALID_LEN (1) shifted left 32
// (include/uapi/linux/sev-guest.h).
const invalidLen = 1 << 32

// driverFake behaves like Linux's sev-guest driver (get_ext_report in
// drivers/virt/coco/sev-guest/sev-guest.c) in front of a host holding certs:
// a request whose buffer is smaller than the host's table fails with EIO,
// exitinfo2 invalidLen and certs_len set to what the host needs; otherwise
// the MSG_REPORT_RSP (STATUS, REPORT_SIZE, report) and the table are copied
// out. The other fields inject faults into the report request.
type driverFake struct {
	certs      []byte        // the host's certificate table
	announce   uint32        // length announced instead of len(certs), if non-zero
	announce0  bool          // the host says too small but announces 0 bytes
	grow       int           // bytes the table grows by after the first request
	errno      syscall.Errno // failure of the report request
	fwErr      uint64        // exitinfo2 that comes with errno
	es         uintptr       // GHCB result of the report request
	status     uint32        // STATUS of the response
	reportSize uint32        // REPORT_SIZE of the response; 0 means 0x4A0
	calls      []fakeCall
}

type fakeCall struct {
	certsLength uint32
	vmpl        uint32
	reportData  [64]byte
}

func (f *driverFake) Ioctl(command uintptr, req any) (uintptr, error) {
	u, ok := req.(*labi.SnpUserGuestRequest)
	if command != labi.IocSnpGetExtendedReport || !ok {
		return 0, syscall.ENOTTY
	}
	ext, resp := u.ReqData.(*labi.SnpExtendedReportReq), u.RespData.(*labi.SnpReportRespABI)
	f.calls = append(f.calls, fakeCall{ext.CertsLength, ext.Data.Vmpl, ext.Data.ReportData})
	if len(f.calls) == 2 {
		f.certs = append(f.certs, make([]byte, f.grow)...)
	}
	need := cmp.Or(f.announce, uint32(len(f.certs)))
	if ext.CertsLength < need || f.announce0 {
		ext.CertsLength, u.FwErr = need, invalidLen
		return 0, syscall.EIO
	}
	if f.errno != 0 {
		u.FwErr = f.fwErr
		return 0, f.errno
	}
	resp.Status, resp.ReportSize = f.status, cmp.Or(f.reportSize, 0x4A0)
	copy(resp.Data[:], synthReport(ext.Data.ReportData, policyDefault, ext.Data.Vmpl))
	copy(ext.Certs, f.certs)
	return f.es, nil
}

func pages(n int) []byte {
	b := make([]byte, n*4096)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestExtendedReport(t *testing.T) {
	rd := data(9)
	tests := []struct {
		name string
		dev  *driverFake
		vmpl uint32
	}{
		{"two pages of certificates", &driverFake{certs: pages(2)}, 0},
		{"the kernel's maximum of 16 KiB", &driverFake{certs: pages(4)}, 0},
		{"our bound of 64 KiB", &driverFake{certs: pages(16)}, 0},
		{"no certificates", &driverFake{}, 0},
		{"VMPL 2 passed through", &driverFake{certs: pages(1)}, 2},
	}
	for _, tc := range tests {
		hostCerts := bytes.Clone(tc.dev.certs)
		report, certs, err := extendedReport(tc.dev, rd, tc.vmpl)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(report, synthReport(rd, policyDefault, tc.vmpl)) || !bytes.Equal(certs, hostCerts) {
			t.Errorf("%s: got a %d-byte report and %d certificate bytes, not the device's", tc.name, len(report), len(certs))
		}
		want := []fakeCall{{0, tc.vmpl, [64]byte{}}, {uint32(len(hostCerts)), tc.vmpl, rd}}
		if !slices.Equal(tc.dev.calls, want) {
			t.Errorf("%s: ioctls %+v, want a length query then the request %+v", tc.name, tc.dev.calls, want)
		}
	}
}

func TestExtendedReportErrors(t *testing.T) {
	tests := []struct {
		name  string
		dev   *driverFake
		check func(error) bool
	}{
		{"firmware error", &driverFake{certs: pages(1), errno: syscall.EIO, fwErr: 0x16},
			func(err error) bool { return fwStatus(err) == 0x16 && errors.Is(err, syscall.EIO) }},
		{"ioctl error", &driverFake{errno: syscall.ENOTTY},
			func(err error) bool { return errors.Is(err, syscall.ENOTTY) && fwStatus(err) == 0 }},
		{"GHCB result", &driverFake{certs: pages(1), es: uintptr(labi.EsVmmError)},
			func(err error) bool {
				e := new(labi.SevEsErr)
				return errors.As(err, &e) && e.Result == labi.EsVmmError
			}},
		{"status", &driverFake{status: 0x16}, isErr(errResponse)},
		{"report size", &driverFake{reportSize: 0x4A1}, isErr(errResponse)},
		{"absurd certificate length", &driverFake{certs: pages(1), announce: 1 << 20}, isErr(errCertsLength)},
		{"just over the bound", &driverFake{certs: pages(1), announce: 64<<10 + 1}, isErr(errCertsLength)},
		{"too small yet 0 bytes needed", &driverFake{announce0: true}, isErr(errCertsLength)},
		{"certificates grew between the requests", &driverFake{certs: pages(1), grow: 4096},
			func(err error) bool { return fwStatus(err) == invalidLen }},
	}
	for _, tc := range tests {
		report, certs, err := extendedReport(tc.dev, data(1), 0)
		if err == nil || !tc.check(err) || report != nil || certs != nil {
			t.Errorf("%s: extendedReport = %d, %d bytes, %v", tc.name, len(report), len(certs), err)
		}
		if errors.Is(err, errCertsLength) && len(tc.dev.calls) != 1 {
			t.Errorf("%s: %d ioctls after an out-of-bounds length, want 1", tc.name, len(tc.dev.calls))
		}
	}
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// fwStatus returns the exitinfo2 carried by err, 0 if none.
func fwStatus(err error) uint64 {
	var fw *firmwareError
	if errors.As(err, &fw) {
		return fw.exitinfo2
	}
	return 0
}

// withReportHeader is go-sev-guest's mock device plus the MSG_REPORT_RSP
// header the mock leaves zero and the firmware writes: STATUS 0 and
// REPORT_SIZE 0x4A0.
type withReportHeader struct{ *sgtest.Device }

func (d withReportHeader) Ioctl(command uintptr, req any) (uintptr, error) {
	result, err := d.Device.Ioctl(command, req)
	if u, ok := req.(*labi.SnpUserGuestRequest); ok && err == nil {
		u.RespData.(*labi.SnpReportRespABI).ReportSize = 0x4A0
	}
	return result, err
}

// TestExtendedReportMatchesGoSevGuest runs extendedReport and the library
// function it replaces against go-sev-guest's own mock device, with the same
// randomness for the mock's report signatures.
func TestExtendedReportMatchesGoSevGuest(t *testing.T) {
	mock, err := sgtest.TcDevice(sgtest.TestCases(), &sgtest.DeviceOptions{Now: time.Now(), Product: abi.DefaultSevProduct()})
	if err != nil {
		t.Fatal(err)
	}
	dev := withReportHeader{mock}
	for _, tc := range sgtest.TestCases() {
		cryptotest.SetGlobalRandom(t, 1)
		libReport, libCerts, libErr := client.GetRawExtendedReportAtVmpl(dev, tc.Input, 0)
		cryptotest.SetGlobalRandom(t, 1)
		report, certs, err := extendedReport(dev, tc.Input, 0)
		if tc.FwErr != 0 {
			if libErr == nil || fwStatus(err) != uint64(tc.FwErr) {
				t.Errorf("%s: errors %v (library) and %v, want firmware status %#x", tc.Name, libErr, err, tc.FwErr)
			}
			continue
		}
		if libErr != nil || err != nil {
			t.Errorf("%s: errors %v (library) and %v", tc.Name, libErr, err)
			continue
		}
		if !bytes.Equal(report, libReport) || !bytes.Equal(certs, libCerts) {
			t.Errorf("%s: report or certificates differ from go-sev-guest's", tc.Name)
		}
		if !bytes.Equal(certs, mock.Certs) || !bytes.Equal(report[:0x2A0], tc.Output[:0x2A0]) {
			t.Errorf("%s: report or certificates differ from the mock's canned ones", tc.Name)
		}
	}
	// The mock as it is leaves REPORT_SIZE 0: the library accepts that, we do not.
	if _, _, err := extendedReport(mock, sgtest.TestCases()[0].Input, 0); !errors.Is(err, errResponse) {
		t.Errorf("REPORT_SIZE 0 accepted: %v", err)
	}
}
