//go:build linux

// The sev-guest device: the ioctl itself, done as go-sev-guest's
// client.LinuxDevice does it but without its throttle. go-sev-guest's client
// package is not used (it imports google.golang.org/protobuf, about 3 MB in
// PID 1's 4 MiB image; see sevguest.go); the request structs are its
// client/linuxabi ones.

package snp

import (
	"errors"
	"fmt"
	"os"

	labi "github.com/google/go-sev-guest/client/linuxabi"
	"golang.org/x/sys/unix"
)

// devicePath is an ExtendedReporter opening the sev-guest device per request.
type devicePath string

func deviceReporter(path string) (ExtendedReporter, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return devicePath(path), nil
}

// ExtendedReport asks the driver for the certificate length, then for the
// report and certificates (extendedReport does both steps).
func (p devicePath) ExtendedReport(reportData [64]byte, vmpl uint32) ([]byte, []byte, error) {
	d := &rawDevice{fd: -1}
	if err := d.Open(string(p)); err != nil {
		return nil, nil, err
	}
	defer d.Close()
	return extendedReport(d, reportData, vmpl)
}

// rawDevice is the ioctlDevice on /dev/sev-guest. It does not throttle:
// go-sev-guest's LinuxDevice sleeps 2 s between ioctls, and an extended
// report takes two, which would add 2 s to every boot for one report. The
// ioctl itself is done exactly as client.LinuxDevice does it.
type rawDevice struct{ fd int }

func (d *rawDevice) Open(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	d.fd = fd
	return nil
}

func (d *rawDevice) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

func (d *rawDevice) Ioctl(command uintptr, req any) (uintptr, error) {
	sreq, ok := req.(*labi.SnpUserGuestRequest)
	if !ok {
		return 0, errors.New("sev-guest ioctl: unexpected request type")
	}
	conv := sreq.ABI()
	result, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), command, uintptr(conv.Pointer()))
	if err := conv.Finish(sreq); err != nil {
		return 0, fmt.Errorf("sev-guest ioctl: %w", err)
	}
	if errno != unix.EIO {
		sreq.FwErr = 0 // the driver leaves FwErr undefined unless it returns EIO
	}
	if errno != 0 {
		return 0, errno
	}
	return result, nil
}
