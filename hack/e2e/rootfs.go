//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// The confidential OS prints these lines after cvminit's switch_root:
// OSMarker when its /sbin/init runs, then SecretPrefix followed by the
// content of /etc/secret-marker, a file that exists only on the encrypted
// disk, then BlobOK or BlobFailed after reading BlobPath (a file large
// enough to corrupt without touching anything else), then WritableOK or
// WritableFailed after writing to /etc, /var and /tmp (read-only root with
// writable overlays).
const (
	OSMarker       = "CONFIDENTIAL-OS-UP"
	SecretPrefix   = "SECRET-MARKER="
	BlobPath       = "/blob"
	BlobSize       = 2 << 20
	BlobOK         = "BLOB-READ-OK"
	BlobFailed     = "BLOB-READ-FAILED"
	WritableOK     = "WRITABLE-OK"
	WritableFailed = "WRITABLE-FAILED"
	// The OS prints AESNIOK when the kernel's only xts(aes) is AES-NI's
	// (/proc/crypto names xts-aes-aesni and no table-based xts instance),
	// else AESNIFailed.
	AESNIOK     = "AES-NI-OK"
	AESNIFailed = "AES-NI-FAILED"
	// The OS prints KmsgLimitPrefix and kernel.printk_devkmsg, which
	// cvminit turns off for its own boot and must have put back to the
	// kernel's default, "ratelimit".
	KmsgLimitPrefix = "PRINTK-DEVKMSG="
	// With a TPM, the OS prints PCRPrefix+"N=<hex>" for PCRs 11, 12 and 15
	// (from sysfs) and the event log cvminit left at TPMLogPath between
	// TPMLogBegin and TPMLogEnd.
	PCRPrefix   = "PCR"
	TPMLogPath  = "/run/log/systemd/tpm2-measure.log"
	TPMLogBegin = "TPM-LOG-BEGIN"
	TPMLogEnd   = "TPM-LOG-END"
	// After all that, the OS prints DumpBegin, the canary dump (DumpScript's
	// output, gzip-compressed, in base64 lines) and DumpEnd.
	DumpBegin = "CANARY-DUMP-BEGIN"
	DumpEnd   = "CANARY-DUMP-END"
	// Each item of the canary dump follows a line DumpHeader + name +
	// DumpHeaderEnd (name is "dmesg" or a path); the line before a header
	// ends with a newline of its own.
	DumpHeader    = "==> "
	DumpHeaderEnd = " <=="
	// BusyboxPackage is the Debian package the confidential OS is made of.
	BusyboxPackage = "busybox-static"
)

// osInit is /sbin/init of the confidential OS.
const osInit = `#!/bin/sh
# /sbin/init of the e2e confidential OS: proves switch_root and the unlock.
exec >/dev/console 2>&1
echo ` + OSMarker + `
echo "` + SecretPrefix + `$(cat /etc/secret-marker)"
if cat ` + BlobPath + ` >/dev/null; then echo ` + BlobOK + `; else echo ` + BlobFailed + `; fi
if echo w >/etc/w && echo w >/var/w && echo w >/tmp/w; then echo ` + WritableOK + `; else echo ` + WritableFailed + `; fi
if grep -q 'xts-aes-aesni' /proc/crypto && ! grep -q 'xts(aes-' /proc/crypto; then echo ` + AESNIOK + `; else echo ` + AESNIFailed + `; fi
echo "` + KmsgLimitPrefix + `$(cat /proc/sys/kernel/printk_devkmsg)"
if [ -e /sys/class/tpm/tpm0/pcr-sha256/11 ]; then
	for p in 11 12 15; do echo "` + PCRPrefix + `$p=$(cat /sys/class/tpm/tpm0/pcr-sha256/$p)"; done
fi
if [ -e ` + TPMLogPath + ` ]; then echo ` + TPMLogBegin + `; cat ` + TPMLogPath + `; echo ` + TPMLogEnd + `; fi
` + dumpScript + `sync
poweroff -f
`

// dumpScript is the part of osInit that writes the canary dump: where the
// disk key could have been left behind after switch_root. The kernel log
// (the console log level lowered meanwhile, so that no kernel message
// lands inside the base64 lines), every process's environment and command
// line, and every regular file in the writable places (/run, /tmp and the
// /etc and /var overlays with their lower layers), each after a header
// line as busybox head prints them (one head for all: a fork per file
// costs seconds under TCG).
const dumpScript = `dump() {
	echo '==> dmesg <=='; dmesg
	head -c 1048576 /proc/[0-9]*/environ /proc/[0-9]*/cmdline $(find /run /tmp /etc /var -type f) /dev/null 2>/dev/null
}
read -r level rest </proc/sys/kernel/printk
dmesg -n 1
echo ` + DumpBegin + `
dump | gzip -c | base64
echo ` + DumpEnd + `
dmesg -n "$level"
`

// applets are the busybox applets osInit uses, linked in /bin.
func applets() []string {
	return []string{"sh", "cat", "echo", "sync", "poweroff", "[", "test", "head", "dmesg", "find", "gzip", "base64", "grep"}
}

// Rootfs describes the confidential OS image.
type Rootfs struct {
	BusyboxDeb string // busybox-static .deb (FetchDeb)
	Secret     string // content of /etc/secret-marker, one line
	Image      string // ext4 image to write
	SizeMiB    int    // image size; 0 means 12
}

// FetchDeb downloads the Debian package pkg into dir with `apt-get
// download` (nothing is installed) unless dir already holds it, and returns
// the .deb's path. A failed download is an ErrUnavailable error.
func FetchDeb(ctx context.Context, t Tools, dir, pkg string) (string, error) {
	if m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb")); len(m) > 0 {
		return m[0], nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var args []string
	if os.Geteuid() == 0 {
		args = append(args, "-o", "APT::Sandbox::User=root")
	}
	if _, err := runTool(ctx, dir, t.AptGet, append(args, "download", "-q", pkg)...); err != nil {
		return "", fmt.Errorf("%w: downloading %s: %w", ErrUnavailable, pkg, err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("apt-get download %s left no .deb in %s", pkg, dir)
	}
	return m[0], nil
}

// BuildRootfs makes the confidential OS (BuildTree) in a fresh directory
// under work and its ext4 image with `mkfs.ext4 -d` on a plain file: no
// mount, no loop device.
func BuildRootfs(ctx context.Context, t Tools, work string, r Rootfs) error {
	tree, err := os.MkdirTemp(work, "rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tree)
	if err := BuildTree(ctx, t, tree, r); err != nil {
		return err
	}
	return MakeExt4(ctx, t, tree, r.Image, r.SizeMiB)
}

// BuildTree unpacks busybox into the empty directory tree and adds the
// confidential OS's /sbin/init, the secret, the blob and the directories
// switch_root moves into the new root (/dev, /proc, /sys, /run).
func BuildTree(ctx context.Context, t Tools, tree string, r Rootfs) error {
	if _, err := runTool(ctx, "", t.DpkgDeb, "-x", r.BusyboxDeb, tree); err != nil {
		return err
	}
	if err := populate(tree, r.Secret); err != nil {
		return fmt.Errorf("populating rootfs: %w", err)
	}
	return nil
}

// MakeExt4 makes an ext4 image of sizeMiB (0 means 12) holding the tree,
// owned by root, without a journal (the confidential OS only reads it).
func MakeExt4(ctx context.Context, t Tools, tree, image string, sizeMiB int) error {
	if sizeMiB == 0 {
		sizeMiB = 12
	}
	_ = os.Remove(image)
	_, err := runTool(ctx, "", t.MkfsExt4, "-q", "-F", "-t", "ext4", "-b", "4096", "-O", "^has_journal",
		"-L", "cvmroot", "-E", "root_owner=0:0", "-d", tree, image, strconv.Itoa(sizeMiB)+"M")
	return err
}

func populate(tree, secret string) error {
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "sbin", "etc", "root", "var"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(tree, "bin", "busybox")); err != nil {
		return fmt.Errorf("busybox package without /bin/busybox: %w", err)
	}
	for _, a := range applets() {
		if err := os.Symlink("busybox", filepath.Join(tree, "bin", a)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "sbin", "init"), []byte(osInit), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tree, BlobPath), blob(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tree, "etc", "secret-marker"), []byte(secret+"\n"), 0o644)
}

// blob is BlobSize bytes of a fixed pattern without zero blocks (mkfs could
// store those as holes, which have no blocks to corrupt).
func blob() []byte {
	b := make([]byte, BlobSize)
	for i := range b {
		b[i] = byte(i*131+i/4096) | 1
	}
	return b
}
