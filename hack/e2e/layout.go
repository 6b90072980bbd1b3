//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnavailable is wrapped by every error that means "this machine is not
// prepared for e2e tests" (a tool or an asset is missing), as opposed to a
// failure of the code under test.
var ErrUnavailable = errors.New("e2e prerequisite unavailable")

// Tools are the paths of the host programs the harness runs.
type Tools struct {
	QEMU       string // qemu-system-x86_64 (Debian qemu-system-x86)
	Cryptsetup string // cryptsetup (Debian cryptsetup-bin)
	MkfsExt4   string // mkfs.ext4 (Debian e2fsprogs)
	Debugfs    string // debugfs (Debian e2fsprogs): where a file's blocks are
	Swtpm      string // swtpm (Debian swtpm): the guest's TPM 2.0
	AptGet     string // apt-get (Debian apt)
	DpkgDeb    string // dpkg-deb (Debian dpkg)
	Go         string // the go command that builds the binaries
}

// DebianPackages are the Debian packages that provide Tools beyond a Go
// toolchain (apt and dpkg are on every Debian system).
func DebianPackages() []string {
	return []string{"qemu-system-x86", "cryptsetup-bin", "e2fsprogs", "swtpm", "apt", "dpkg"}
}

// FindTools looks every tool up in PATH (and /usr/sbin, /sbin, where
// Debian puts mkfs.ext4 and cryptsetup). A missing tool is an
// ErrUnavailable error naming all that are missing.
func FindTools() (Tools, error) {
	var t Tools
	var missing []string
	for _, f := range []struct {
		dst  *string
		name string
	}{
		{&t.QEMU, "qemu-system-x86_64"}, {&t.Cryptsetup, "cryptsetup"}, {&t.MkfsExt4, "mkfs.ext4"}, {&t.Debugfs, "debugfs"}, {&t.Swtpm, "swtpm"},
		{&t.AptGet, "apt-get"}, {&t.DpkgDeb, "dpkg-deb"}, {&t.Go, "go"},
	} {
		p, err := lookPath(f.name)
		if err != nil {
			missing = append(missing, f.name)
		}
		*f.dst = p
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: missing %s (apt-get install %s)", ErrUnavailable,
			strings.Join(missing, ", "), strings.Join(DebianPackages(), " "))
	}
	return t, nil
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Layout locates the repository and the Debian assets fetched by
// hack/assets.sh (`make assets`).
type Layout struct {
	Root          string // repository root, the directory holding go.mod
	Assets        string // Root/build/assets
	KernelRelease string // content of Assets/kernel-release
}

// FindLayout walks up from dir to the repository root and checks that the
// assets are there; missing assets are an ErrUnavailable error.
func FindLayout(dir string) (Layout, error) {
	root, err := findRoot(dir)
	if err != nil {
		return Layout{}, err
	}
	l := Layout{Root: root, Assets: filepath.Join(root, "build", "assets")}
	rel, err := os.ReadFile(filepath.Join(l.Assets, "kernel-release"))
	if err != nil {
		return l, fmt.Errorf("%w: no Debian assets in %s (run make assets): %w", ErrUnavailable, l.Assets, err)
	}
	l.KernelRelease = strings.TrimSpace(string(rel))
	for _, p := range []string{l.Kernel(), l.OVMF(), l.OVMFAmdSev(), l.ModulesDir()} {
		if _, err := os.Stat(p); err != nil {
			return l, fmt.Errorf("%w: incomplete assets (run make assets): %w", ErrUnavailable, err)
		}
	}
	return l, nil
}

func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// Kernel is the Debian kernel QEMU direct-boots.
func (l Layout) Kernel() string { return filepath.Join(l.Assets, "vmlinuz") }

// OVMF is the stock firmware QEMU can boot under TCG.
func (l Layout) OVMF() string { return filepath.Join(l.Assets, "OVMF.fd") }

// OVMFAmdSev is the firmware a real SNP launch uses; snpemu and cvmctl
// measure measure it.
func (l Layout) OVMFAmdSev() string { return filepath.Join(l.Assets, "OVMF.amdsev.fd") }

// ModulesDir is the unpacked lib/modules/RELEASE tree of the kernel.
func (l Layout) ModulesDir() string {
	return filepath.Join(l.Assets, "root", "lib", "modules", l.KernelRelease)
}

// Cache is where downloads are kept between runs (build/e2e/cache).
func (l Layout) Cache() string { return filepath.Join(l.Root, "build", "e2e", "cache") }
