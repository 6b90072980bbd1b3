package agent

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/agent/snp"
	"github.com/cvminit/cvminit/agent/tpm"
)

// Sys is every piece of hardware and kernel the boot touches, each behind a
// small interface that mirrors the kernel. LinuxSys returns the real ones;
// tests pass fakes. A nil member is a programming error.
type Sys struct {
	Mounter  Mounter
	Logs     LogOpener
	Files    Files
	Modules  ModuleLoader
	Net      NetConfigurer
	Attest   Attesters
	Brokers  Brokers
	Blocks   BlockDevices
	Unlocker Unlocker
	Verity   VerityMapper
	Switcher Switcher
	Power    Power
	Clock    Clock
	TPM      TPMs
	Appender Appender
	// DebugShell, when set, runs after the FAIL status line and the wipe,
	// and only when the measured config is a debug image's that allows it
	// (debug and boot.debug_shell_after_failure); it returns when the shell
	// exits and the failure policy powers off. It may be nil. LinuxSys sets
	// a gosh on the console, which a production image (no /bin) never gets
	// to start: its config refuses the shell and it carries none.
	DebugShell func(ctx context.Context) error
}

// MountFlags are mount(2) flags; the values are Linux's (include/uapi/linux/mount.h).
type MountFlags uintptr

// Mount flags used by cvminit.
const (
	MountReadOnly   MountFlags = 0x1      // MS_RDONLY
	MountNoSuid     MountFlags = 0x2      // MS_NOSUID
	MountNoDev      MountFlags = 0x4      // MS_NODEV
	MountNoExec     MountFlags = 0x8      // MS_NOEXEC
	MountNoAtime    MountFlags = 0x400    // MS_NOATIME
	MountNoDiratime MountFlags = 0x800    // MS_NODIRATIME
	MountRelatime   MountFlags = 0x200000 // MS_RELATIME
)

// Mount is one mount(2) call.
type Mount struct {
	Source, Target, FSType string
	Flags                  MountFlags
	Data                   string
}

// Mounter creates directories, looks at them and mounts file systems.
type Mounter interface {
	// MkdirAll creates path and its parents.
	MkdirAll(path string, perm fs.FileMode) error
	// Lstat describes path without following a final symlink (lstat(2)).
	Lstat(path string) (fs.FileInfo, error)
	Mount(m Mount) error
}

// LogOpener opens the kernel log and the console once /dev exists. A
// kernel log writer that changed the kernel's rate limit on it also has
// RestoreLimit() error (limitRestorer), which the switchroot step calls.
type LogOpener interface {
	OpenKmsg() (io.Writer, error)
	OpenConsole() (io.Writer, error)
}

// Files reads files (the config, /proc/cmdline, /proc/self/exe).
type Files interface {
	ReadFile(name string) ([]byte, error)
}

// Appender opens files to append to (the TPM event log).
type Appender interface {
	// OpenAppend opens name for appending, creating it with mode perm;
	// its directory must exist. A symbolic link at name is refused.
	OpenAppend(name string, perm fs.FileMode) (io.WriteCloser, error)
}

// TPMs opens the TPM: tpm.Open("") in production (/dev/tpmrm0, else
// /dev/tpm0), which fails with tpm.ErrNoTPM when the VM has none.
type TPMs interface {
	Open() (tpm.Device, error)
}

// ModuleLoader loads one kernel module file. A module already loaded (or
// built in) is not an error.
type ModuleLoader interface {
	Load(path string) error
}

// NetConfigurer brings the interface up as n says and describes the result
// ("10.0.2.15/24 via 10.0.2.2").
type NetConfigurer interface {
	Configure(ctx context.Context, n config.Network) (string, error)
}

// Attesters opens SNP report providers (snp.Open in production).
type Attesters interface {
	Open(name string, o snp.Options) (snp.Provider, error)
}

// KeyFetcher fetches a resource from the key broker (*kbs.Client).
type KeyFetcher interface {
	// Preconnect starts opening the connection the first request will
	// use, in the background; nothing is sent on it before a request is.
	Preconnect()
	GetResource(ctx context.Context, r kbs.Reporter, path string) (*secret.Buffer, error)
}

// Brokers makes key broker clients (kbs.NewClient in production).
type Brokers interface {
	Client(o kbs.Options) (KeyFetcher, error)
}

// BlockDevices reads block devices by kernel name ("vda", "vdb1").
type BlockDevices interface {
	// List returns the names in /sys/class/block.
	List() ([]string, error)
	// ReadHeader returns the first n bytes of /dev/<name>.
	ReadHeader(name string, n int) ([]byte, error)
	// Size returns the size of the device in bytes.
	Size(name string) (uint64, error)
}

// UnlockRequest is everything an Unlocker needs. Metadata is the LUKS2
// metadata region (both headers and the keyslot areas) as read once and
// checked (only the header guard makes a disk.Metadata); the Unlocker must
// use this copy and never re-read it from the device.
type UnlockRequest struct {
	Device     string         // "/dev/vda"
	Metadata   *disk.Metadata // bytes [0, segment offset) of Device, checked
	DeviceSize uint64         // bytes
	Key        *secret.Buffer
	Name       string // device-mapper name
	// Ready, when set, is waited for before the device-mapper table is
	// loaded (the modules it needs may still be loading); its error ends
	// the unlock.
	Ready func(context.Context) error
}

// Unlocker opens a LUKS2 volume as a device-mapper device and returns the
// path of the plaintext device ("/dev/mapper/root").
type Unlocker interface {
	Unlock(ctx context.Context, r UnlockRequest) (string, error)
}

// VerityMapper creates dm-verity devices.
type VerityMapper interface {
	// DeviceSize returns the size in bytes of the block device at path
	// ("/dev/mapper/root-crypt"), as the kernel reports it in
	// /sys/dev/block/<major>:<minor>/size.
	DeviceSize(path string) (uint64, error)
	// Create makes the read-only device-mapper device name with the single
	// dm-verity target t and returns its path ("/dev/mapper/root").
	Create(ctx context.Context, name string, t VerityTable) (string, error)
}

// Switcher hands the machine to the new root. Check verifies everything
// SwitchRoot needs (newRoot is a mount point holding /dev, /proc, /sys and
// /run directories and an executable init), so that the OK status line can
// be printed before the point of no return; SwitchRoot moves /dev, /proc,
// /sys and /run into newRoot, makes it "/", frees the initramfs and execs
// init (u-root's mount.SwitchRoot). It returns only on failure.
type Switcher interface {
	Check(newRoot, init string) error
	SwitchRoot(newRoot, init string) error
}

// Power ends the boot. Neither returns on success.
type Power interface {
	PowerOff() error
	Reboot() error
}

// Clock tells time and sleeps.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}
