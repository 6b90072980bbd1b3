package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/u-root/u-root/pkg/mount"
	"golang.org/x/sys/unix"

	"github.com/cvminit/cvminit/agent/klog"
)

// boot is the state the steps share.
type boot struct {
	start time.Time
	out   io.Writer // the console
	cfg   bootConfig
	root  string // /dev/NAME of the root device
}

// step is one named stage; code is the FAIL line's code when it fails.
type step struct {
	name string
	code klog.Code
	run  func(*boot) error
}

func steps() []step {
	return []step{
		{"mounts", klog.CodeSetupFailed, (*boot).mounts},
		{"config", klog.CodeConfigInvalid, (*boot).config},
		{"modules", klog.CodeModulesFailed, (*boot).modules},
		{"disk", klog.CodeDiskNotFound, (*boot).disk},
		{"mount", klog.CodeMountFailed, (*boot).mount},
		{"switchroot", klog.CodeSwitchRootFailed, (*boot).switchRoot},
	}
}

func main() {
	b := &boot{start: time.Now(), out: os.Stdout}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "baseinit: refusing to run: not PID 1")
		os.Exit(2)
	}
	log.SetOutput(io.Discard) // u-root's switch_root narrates; cvminit keeps that off the console too
	for _, st := range steps() {
		t0 := time.Now()
		err := st.run(b) // switchroot returns only on failure
		ms := time.Since(t0).Milliseconds()
		if err != nil {
			b.fail(st, ms, err)
		}
		fmt.Fprintln(b.out, klog.StepLine(st.name, klog.StepOK, ms))
	}
}

// fail prints the step's FAIL lines and powers off; exiting instead (if
// even that fails) makes the kernel panic, which ends the VM as well.
func (b *boot) fail(st step, ms int64, err error) {
	fmt.Fprintln(b.out, klog.StepLine(st.name, klog.StepFail, ms))
	fmt.Fprintln(b.out, klog.Status{Code: st.code, Step: st.name, Hint: err.Error()}.String())
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(1)
}

func (b *boot) mounts() error {
	for _, d := range []struct {
		path string
		perm os.FileMode
	}{{"/proc", 0o555}, {"/sys", 0o555}, {"/dev", 0o755}, {"/run", 0o755}, {newRoot, 0o755}} {
		if err := os.MkdirAll(d.path, d.perm); err != nil {
			return err
		}
	}
	const hardened = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", hardened, ""},
		{"sysfs", "/sys", "sysfs", hardened, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	} {
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	return nil
}

func (b *boot) config() (err error) {
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	b.cfg, err = parseConfig(raw)
	return err
}

func (b *boot) modules() error {
	for _, m := range b.cfg.Modules {
		if err := loadModule(m); err != nil {
			return fmt.Errorf("loading module %s: %w", m, err)
		}
	}
	return nil
}

// loadModule is cvminit's loader for a plain .ko: finit_module, a module
// already loaded (built in) being fine.
func loadModule(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := kmodule.FileInit(f, "", 0); err != nil && !os.IsExist(err) {
		return err
	}
	return nil
}

func (b *boot) disk() error {
	deadline := time.Now().Add(diskWait)
	for pause := pollFirst; ; pause = nextPause(pause) {
		name, err := findRoot()
		if err == nil {
			b.root = "/dev/" + name
			return nil
		}
		if !errors.Is(err, errNoRoot) || time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("after %s: %w", time.Since(deadline.Add(-diskWait)).Round(time.Millisecond), err)
		}
		time.Sleep(pause)
	}
}

// findRoot lists /sys/class/block and picks the device holding ext4.
func findRoot() (string, error) {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return "", fmt.Errorf("listing block devices: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return pickRoot(names, func(n string) bool {
		hdr, err := readHeader(filepath.Join("/dev", n))
		return err == nil && isExt4(hdr)
	})
}

func readHeader(dev string) ([]byte, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdr := make([]byte, headerSize)
	_, err = io.ReadFull(f, hdr)
	return hdr, err
}

func (b *boot) mount() error {
	if err := unix.Mount(b.root, newRoot, b.cfg.Disk.FSType, unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting %s (%s) read-only on %s: %w", b.root, b.cfg.Disk.FSType, newRoot, err)
	}
	return nil
}

func (b *boot) switchRoot() error {
	init := b.cfg.Boot.Init
	if _, err := os.Lstat(filepath.Join(newRoot, init)); err != nil {
		return fmt.Errorf("init in the new root: %w", err)
	}
	total := time.Since(b.start).Milliseconds()
	fmt.Fprintln(b.out, klog.Status{OK: true, Root: b.root, Init: init, TotalMS: total}.String())
	unix.Sync()
	return mount.SwitchRoot(newRoot, init)
}
