package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unsafe"

	luks "github.com/anatol/luks.go"
	"golang.org/x/sys/unix"
)

// detachedDir holds the checked metadata copy luks.go reads (tmpfs).
const detachedDir = "/run/cvminit"

// luksUnlocker unlocks with luks.go, which only ever reads the checked
// metadata copy (written to tmpfs in dir as a detached header); the data
// segment is mapped from the real device. Any panic inside luks.go is an
// error.
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
	if err := vol.SetupMapper(r.Name); err != nil {
		return "", fmt.Errorf("dm-crypt table for %s: %w", r.Name, err)
	}
	return mapperNode(ctx, r.Name)
}

// unseal recovers the volume key from the detached copy of the metadata and
// points the volume at the real device. Header flags are ignored: dm flags
// come only from the measured config.
func unseal(r UnlockRequest, dir string) (*luks.Volume, error) {
	hdr, err := writeDetached(dir, r.Name, r.Metadata)
	if err != nil {
		return nil, err
	}
	defer os.Remove(hdr)
	dev, err := luks.Open(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: luks.go: %w", ErrHeaderRejected, err)
	}
	defer dev.Close()
	dev.FlagsClear()
	var errs []error
	for _, slot := range dev.Slots() {
		vol, err := dev.UnsealVolume(slot, r.Key.Bytes())
		if err != nil {
			errs = append(errs, fmt.Errorf("keyslot %d: %w", slot, err))
			continue
		}
		vol.BackingDevice, vol.Flags = r.Device, nil
		if vol.StorageSize == 0 { // "dynamic": the rest of the device, in whole sectors
			vol.StorageSize = r.DeviceSize - vol.StorageOffset
			vol.StorageSize -= vol.StorageSize % vol.StorageSectorSize
		}
		return vol, nil
	}
	return nil, fmt.Errorf("no keyslot opens with the released key: %w", errors.Join(errs...))
}

func writeDetached(dir, name string, meta []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+".luks")
	if err := os.WriteFile(p, meta, 0o600); err != nil {
		return "", fmt.Errorf("writing detached header: %w", err)
	}
	return p, nil
}

// wipeVolumeKey zeroes the volume key luks.go keeps in an unexported
// field once dm-crypt has its copy. Best effort: if luks.go changes the
// field, nothing is touched.
func wipeVolumeKey(v *luks.Volume) {
	f := reflect.ValueOf(v).Elem().FieldByName("key")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		return
	}
	clear(unsafe.Slice((*byte)(f.UnsafePointer()), f.Len()))
}

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
