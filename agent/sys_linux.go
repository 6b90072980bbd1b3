package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/snp"
	"github.com/cvminit/cvminit/agent/tpm"
)

// LinuxSys returns the real hardware: mount(2), /dev/kmsg and /dev/console,
// kernel modules (u-root kmodule), netlink and DHCP (u-root dhclient), the
// SNP providers of agent/snp, the KBS client of agent/kbs, block devices
// under /sys/class/block and /dev, LUKS2 via luks.go, dm-verity via
// devmapper.go, u-root's SwitchRoot, the TPM through agent/tpm (go-tpm's
// linuxtpm), reboot(2), and the debug shell on the console (which the
// runner offers only to a debug image's config, and which finds no shell
// in a production image).
func LinuxSys() Sys {
	return Sys{
		Mounter: linuxMounter{}, Logs: linuxLogs{}, Files: osFiles{}, Modules: kmodLoader{},
		Net: netlinkConfigurer{}, Attest: snpAttesters{}, Brokers: kbsBrokers{}, Blocks: sysBlocks{},
		Unlocker: luksUnlocker{dir: detachedDir}, Verity: dmVerity{}, Switcher: urootSwitcher{}, Power: linuxPower{}, Clock: SystemClock{},
		TPM: linuxTPMs{}, Appender: osFiles{}, DebugShell: linuxDebugShell().run,
	}
}

type linuxMounter struct{}

func (linuxMounter) MkdirAll(p string, perm fs.FileMode) error { return os.MkdirAll(p, perm) }
func (linuxMounter) Lstat(p string) (fs.FileInfo, error)       { return os.Lstat(p) }

func (linuxMounter) Mount(m Mount) error {
	if err := unix.Mount(m.Source, m.Target, m.FSType, uintptr(m.Flags), m.Data); err != nil {
		return fmt.Errorf("mount %s on %s (%s): %w", m.Source, m.Target, m.FSType, err)
	}
	return nil
}

type linuxLogs struct{}

// devkmsgSysctl is kernel.printk_devkmsg: "ratelimit" (the default), "on"
// or "off".
const devkmsgSysctl = "/proc/sys/kernel/printk_devkmsg"

// OpenKmsg opens /dev/kmsg after turning off the kernel's rate limit on
// writes to it (kernel.printk_devkmsg=on; best effort: printk.devkmsg= on
// the command line locks the setting). The default limit, ten records per
// five seconds, dropped most of a boot's info records. The writer's
// RestoreLimit puts the setting back as it was, for the confidential OS.
func (linuxLogs) OpenKmsg() (io.Writer, error) {
	k := kmsg{limit: readLimit()}
	_ = os.WriteFile(devkmsgSysctl, []byte("on\n"), 0)
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = k.RestoreLimit()
		return nil, err
	}
	k.File = f
	return k, nil
}

// readLimit is kernel.printk_devkmsg's value, or nil when it cannot be read
// or is not one of the three the kernel knows.
func readLimit() []byte {
	b, err := os.ReadFile(devkmsgSysctl)
	if err != nil {
		return nil
	}
	switch strings.TrimSpace(string(b)) {
	case "ratelimit", "on", "off":
		return b
	}
	return nil
}

// kmsg is /dev/kmsg opened by OpenKmsg, with the rate-limit setting it
// found.
type kmsg struct {
	*os.File
	limit []byte // kernel.printk_devkmsg before OpenKmsg; nil: unknown
}

// RestoreLimit puts kernel.printk_devkmsg back as OpenKmsg found it.
func (k kmsg) RestoreLimit() error {
	if k.limit == nil {
		return nil
	}
	return os.WriteFile(devkmsgSysctl, k.limit, 0)
}

func (linuxLogs) OpenConsole() (io.Writer, error) {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return Console{f}, nil
}

// NewConsole wraps a terminal (the console the kernel gave PID 1) so that
// klog's Flush can wait until its output has been transmitted.
func NewConsole(f *os.File) io.Writer { return Console{f} }

// QuietConsole turns off echo, line editing and signal keys on the console
// and drops pending input. PID 1 never reads the console (SECURITY.md H8), and
// bytes the host types must not be echoed into the status lines.
func QuietConsole(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("console termios: %w", err)
	}
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("console termios: %w", err)
	}
	return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
}

// Console is a terminal the handler writes to; Drain waits until the
// output has been transmitted (tcdrain), so that the last status line
// reaches the serial port before power off.
type Console struct{ *os.File }

// Drain implements tcdrain(3): ioctl(TCSBRK, 1).
func (c Console) Drain() error { return unix.IoctlSetInt(int(c.Fd()), unix.TCSBRK, 1) }

type osFiles struct{}

func (osFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// OpenAppend opens name write-only for appending (O_NOFOLLOW, O_CLOEXEC:
// switch_root's exec does not inherit it) and sets its mode to perm,
// whatever the umask.
func (osFiles) OpenAppend(name string, perm fs.FileMode) (io.WriteCloser, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("chmod %s: %w", name, err)
	}
	return f, nil
}

type linuxTPMs struct{}

func (linuxTPMs) Open() (tpm.Device, error) { return tpm.Open("") }

type snpAttesters struct{}

func (snpAttesters) Open(name string, o snp.Options) (snp.Provider, error) { return snp.Open(name, o) }

type kbsBrokers struct{}

func (kbsBrokers) Client(o kbs.Options) (KeyFetcher, error) {
	c, err := kbs.NewClient(o)
	if err != nil {
		return nil, err
	}
	return c, nil
}

type linuxPower struct{}

// PowerOff syncs and powers the machine off.
func (linuxPower) PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// Reboot syncs and restarts the machine.
func (linuxPower) Reboot() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

// isExist reports whether err means "already there" (EEXIST).
func isExist(err error) bool { return errors.Is(err, unix.EEXIST) }
