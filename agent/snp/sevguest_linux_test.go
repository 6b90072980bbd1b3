//go:build linux

package snp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	labi "github.com/google/go-sev-guest/client/linuxabi"
	"golang.org/x/sys/unix"
)

// TestRawDevice issues the real ioctl on a file that is not /dev/sev-guest:
// the kernel's ENOTTY must come back as the error, not as a firmware error.
func TestRawDevice(t *testing.T) {
	d := &rawDevice{fd: -1}
	if err := d.Open(os.DevNull); err != nil {
		t.Fatal(err)
	}
	req := &labi.SnpUserGuestRequest{ReqData: &labi.SnpExtendedReportReq{}, RespData: &labi.SnpReportRespABI{}}
	if _, err := d.Ioctl(labi.IocSnpGetExtendedReport, req); !errors.Is(err, unix.ENOTTY) || req.FwErr != 0 {
		t.Errorf("ioctl on %s = %v, FwErr %#x; want ENOTTY and no firmware error", os.DevNull, err, req.FwErr)
	}
	if _, err := d.Ioctl(labi.IocSnpGetExtendedReport, &labi.SnpReportReqABI{}); err == nil {
		t.Error("ioctl accepted a request that is not an SnpUserGuestRequest")
	}
	if err := d.Close(); err != nil || d.fd != -1 {
		t.Errorf("Close = %v, fd %d", err, d.fd)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestDevicePath(t *testing.T) {
	_, _, err := devicePath(os.DevNull).ExtendedReport(data(1), 0)
	if !errors.Is(err, unix.ENOTTY) || fwStatus(err) != 0 {
		t.Errorf("ExtendedReport on %s = %v, want ENOTTY", os.DevNull, err)
	}
	missing := filepath.Join(t.TempDir(), "sev-guest")
	if _, _, err := devicePath(missing).ExtendedReport(data(1), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ExtendedReport on a missing device = %v, want not-exist", err)
	}
}
