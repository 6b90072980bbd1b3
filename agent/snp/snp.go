// Package snp obtains SEV-SNP attestation reports for the guest: from
// configfs-tsm, from /dev/sev-guest, or from the snpemu emulator over a
// virtio-serial port.
//
// Open selects a provider by name. "auto" tries configfs-tsm (Linux ≥ 6.7; needs
// configfs mounted on /sys/kernel/config) and then /dev/sev-guest, and never
// picks the emulator: the emulated provider is used only when the measured
// configuration names it.
//
// Every provider checks what the host handed back before returning it: the
// report is exactly 0x4A0 bytes, echoes the requested REPORT_DATA, carries the
// requested VMPL, and its guest POLICY does not allow debugging (CheckOwn). The
// report signature is not checked here: that is the key broker's job.
//
// Two parts are written by hand. The guest↔emulator wire format (wire.go): no
// library speaks it. The two-ioctl SNP_GET_EXT_REPORT sequence on
// /dev/sev-guest (sevguest.go): go-sev-guest's client and abi packages would
// do it, but they import google.golang.org/protobuf, about 3 MB of PID 1 in a
// 4 MiB initramfs; the kernel ABI structs and ioctl numbers still come from
// go-sev-guest's client/linuxabi. configfs-tsm reports come from
// go-configfs-tsm.
package snp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
)

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

// Provider names accepted by Open.
const (
	NameAuto     = "auto"
	NameConfigfs = "configfs-tsm"
	NameSevGuest = "sev-guest"
	NameEmulated = "emulated"
)

// DefaultPort is the virtio-serial port name the emulated provider looks for.
const DefaultPort = "cvminit.snp"

// Sentinel errors callers can branch on.
var (
	ErrUnknownProvider = errors.New("unknown SNP report provider")
	ErrNoProvider      = errors.New("no SNP report provider available (neither configfs-tsm nor /dev/sev-guest)")
	ErrUnsupported     = errors.New("SNP report provider not supported on this platform")
)

// Options tune Open. The zero value is what the guest uses in production.
type Options struct {
	// Port is the virtio-serial port name of the emulator; "" means DefaultPort.
	Port string
	// SysRoot replaces "/sys" when looking for configfs-tsm and virtio ports; "" means "/sys".
	SysRoot string
	// DevRoot replaces "/dev" for /dev/sev-guest and /dev/vportNpM; "" means "/dev".
	DevRoot string
	// TSM replaces the configfs-tsm file access (tests); nil means the kernel's configfs.
	TSM configfsi.Client
	// SevGuest replaces the /dev/sev-guest device (tests); nil means the real device.
	SevGuest ExtendedReporter
}

func (o Options) sysRoot() string { return orDefault(o.SysRoot, "/sys") }
func (o Options) devRoot() string { return orDefault(o.DevRoot, "/dev") }
func (o Options) port() string    { return orDefault(o.Port, DefaultPort) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Open returns the provider called name: "auto", "configfs-tsm", "sev-guest" or
// "emulated". Every provider also implements fmt.Stringer with its name.
func Open(name string, opts Options) (Provider, error) {
	switch name {
	case NameAuto:
		return openAuto(opts)
	case NameConfigfs:
		return openConfigfs(opts)
	case NameSevGuest:
		return openSevGuest(opts)
	case NameEmulated:
		return &Emulated{Dial: PortDialer(opts.sysRoot(), opts.devRoot(), opts.port())}, nil
	}
	return nil, fmt.Errorf("opening provider %q: %w", name, ErrUnknownProvider)
}

// openAuto picks configfs-tsm when its report directory exists (or a fake is
// injected), else /dev/sev-guest when the device node exists (or is injected).
func openAuto(opts Options) (Provider, error) {
	var errs []error
	if opts.TSM != nil || isDir(filepath.Join(opts.sysRoot(), "kernel/config/tsm/report")) {
		p, err := openConfigfs(opts)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	if opts.SevGuest != nil || exists(filepath.Join(opts.devRoot(), "sev-guest")) {
		p, err := openSevGuest(opts)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, ErrNoProvider
	}
	return nil, fmt.Errorf("%w: %w", ErrNoProvider, errors.Join(errs...))
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
