// Command baseinit is the baseline PID 1 that cvminit's boot is measured
// against (hack/e2e BenchmarkBoot, issue 8): the least an initramfs init
// must do to boot the same confidential OS from the same kernel, done the
// way cvminit does it, so that the difference between the two is the price
// of what cvminit adds.
//
// What it does, in order, printing one step line per step in cvminit's
// format (agent/klog.StepLine, so that one parser reads both):
//
//   - mounts: creates /proc, /sys, /dev, /run and /newroot and mounts proc,
//     sysfs, devtmpfs and a tmpfs on /run with cvminit's flags;
//   - config: reads the module list, the root's file system type and the
//     init program from /etc/cvminit/config.json, the very config of the
//     cvminit image it is compared with (other fields are ignored);
//   - modules: loads those modules, in that order, one at a time, with
//     u-root's kmodule.FileInit (finit_module), as cvminit does;
//   - disk: waits for the one block device holding an ext4 file system
//     (superblock magic), scanning /sys/class/block and reading each
//     device's first 2 KiB, with cvminit's poll schedule (50 ms, doubling to
//     500 ms) and devices skipped (dm-, loop, ram, sr, zram), for at most
//     60 s;
//   - mount: mounts it read-only on /newroot;
//   - then, as cvminit's switchroot step: checks that the init program
//     exists in the new root, prints the final line in cvminit's format
//     ("CVMINIT-STATUS v1 OK root=/dev/vda init=/sbin/init total_ms=N",
//     counted from main's start like cvminit's from agent.Run's), syncs and
//     switches root with u-root's mount.SwitchRoot (no step line, as in
//     cvminit).
//
// What it does not do, unlike cvminit: no kernel log (/dev/kmsg) handler,
// no console hardening, no configfs mount, no TPM measurements, no network,
// no attestation, no key from a broker, no LUKS2 header checks, no unlock,
// no dm-verity, no writable overlays over the read-only root (the OS's
// writes to /etc and /var fail), no secret wiping, no overall deadline and
// no failure policy beyond one FAIL line and powering off. The disk is the
// confidential OS's plain ext4 image, not the sealed one.
//
// It is a benchmark tool, never part of an image anyone deploys.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Fixed paths and limits.
const (
	configPath = "/etc/cvminit/config.json" // initramfs.ConfigPath
	newRoot    = "/newroot"
	diskWait   = 60 * time.Second
	pollFirst  = 50 * time.Millisecond // agent's diskPollFirst
	pollMax    = 500 * time.Millisecond
	// headerSize covers the ext4 superblock (offset 1024, 1024 bytes).
	headerSize = 2048
	ext4Magic  = 0xEF53
	magicOff   = 1024 + 0x38 // s_magic, little-endian
)

// errNoRoot: no block device holds an ext4 file system (yet).
var errNoRoot = errors.New("no block device holds an ext4 file system")

// bootConfig is the part of cvminit's config the baseline reads.
type bootConfig struct {
	Modules []string `json:"modules"`
	Disk    struct {
		FSType string `json:"fstype"`
	} `json:"disk"`
	Boot struct {
		Init string `json:"init"`
	} `json:"boot"`
}

// parseConfig decodes b and checks what the baseline uses: absolute module
// paths, a file system type and an absolute init path.
func parseConfig(b []byte) (bootConfig, error) {
	var c bootConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("decoding config: %w", err)
	}
	for _, m := range c.Modules {
		if !path.IsAbs(m) || path.Clean(m) != m {
			return c, fmt.Errorf("module path %q is not absolute and clean", m)
		}
	}
	if c.Disk.FSType == "" {
		return c, errors.New("config has no disk.fstype")
	}
	if !path.IsAbs(c.Boot.Init) {
		return c, fmt.Errorf("init %q is not an absolute path", c.Boot.Init)
	}
	return c, nil
}

// isExt4 reports whether hdr, a device's first bytes, holds an ext4 (or
// ext2/3) superblock magic.
func isExt4(hdr []byte) bool {
	return len(hdr) >= magicOff+2 && binary.LittleEndian.Uint16(hdr[magicOff:]) == ext4Magic
}

// skipDevice leaves out what cvminit leaves out: device-mapper, loop, RAM
// and optical devices.
func skipDevice(name string) bool {
	for _, p := range []string{"dm-", "loop", "ram", "sr", "zram"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// pickRoot returns the one device for which isRoot holds, errNoRoot when
// none does, and an error naming them when several do.
func pickRoot(names []string, isRoot func(string) bool) (string, error) {
	var found []string
	for _, n := range names {
		if !skipDevice(n) && isRoot(n) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return "", errNoRoot
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several block devices hold ext4: %s", strings.Join(found, ", "))
}

// nextPause is the poll schedule of cvminit's disk step.
func nextPause(p time.Duration) time.Duration { return min(2*p, pollMax) }
