package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	luks "github.com/anatol/luks.go"
	"golang.org/x/sys/unix"

	"github.com/cvminit/cvminit/agent/disk"
)

// detachedDir holds the checked metadata copy luks.go reads (tmpfs).
const detachedDir = "/run/cvminit"

// luksUnlocker unlocks with luks.go through agent/disk, which only ever
// hands luks.go the checked metadata copy (written to tmpfs in dir as a
// detached header) and builds the dm-crypt table from validated values; the
// data segment is mapped from the real device. Any panic inside luks.go is
// an error.
type luksUnlocker struct{ dir string }

func (u luksUnlocker) Unlock(ctx context.Context, r UnlockRequest) (mapped string, err error) {
	defer func() {
		if p := recover(); p != nil {
			mapped, err = "", fmt.Errorf("%w: luks.go panicked: %v", ErrHeaderRejected, p)
		}
	}()
	vol, err := unseal(r, u.dir)
	if err != nil {
		return "", err
	}
	defer wipeVolumeKey(vol)
	if r.Ready != nil {
		if err := r.Ready(ctx); err != nil {
			return "", err
		}
	}
	if err := vol.SetupMapper(r.Name); err != nil {
		return "", fmt.Errorf("dm-crypt table for %s: %w", r.Name, err)
	}
	return mapperNode(ctx, r.Name)
}

// unseal recovers the volume key from the checked metadata copy with
// disk.Unseal.
func unseal(r UnlockRequest, dir string) (*luks.Volume, error) {
	if r.Metadata == nil {
		return nil, fmt.Errorf("%w: no checked metadata", ErrHeaderRejected)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return disk.Unseal(r.Metadata, r.Key.Bytes(), dir, r.Device, r.DeviceSize)
}

// wipeVolumeKey zeroes the volume key once dm-crypt has its copy.
func wipeVolumeKey(v *luks.Volume) { disk.WipeVolumeKey(v) }

// mapperNode creates /dev/mapper/<name> for the new dm device (there is no
// udev to do it) and returns its path.
func mapperNode(ctx context.Context, name string) (string, error) {
	dev, err := findDM(ctx, name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll("/dev/mapper", 0o755); err != nil {
		return "", err
	}
	p := filepath.Join("/dev/mapper", name)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(dev)); err != nil && !isExist(err) {
		return "", fmt.Errorf("mknod %s: %w", p, err)
	}
	return p, nil
}

// findDM waits for /sys/block/dm-*/dm/name to show name and returns the
// device number from the sibling "dev" file.
func findDM(ctx context.Context, name string) (uint64, error) {
	for {
		dirs, _ := filepath.Glob("/sys/block/dm-*")
		for _, d := range dirs {
			if n, err := os.ReadFile(filepath.Join(d, "dm/name")); err == nil && strings.TrimSpace(string(n)) == name {
				return readDevNumber(filepath.Join(d, "dev"))
			}
		}
		if err := (SystemClock{}).Sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, fmt.Errorf("device-mapper device %s did not appear: %w", name, err)
		}
	}
}

func readDevNumber(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: %q is not major:minor", p, b)
	}
	return unix.Mkdev(uint32(ma), uint32(mi)), nil
}
