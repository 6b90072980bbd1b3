package disk

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	luks "github.com/anatol/luks.go"
)

// ErrWrongKey: no keyslot of a validated header opens with the key.
var ErrWrongKey = errors.New("no keyslot opens with the key")

// Unseal writes m.Region to a file in dir (tmpfs in the guest) as a detached
// header, lets luks.go recover the volume key from that copy with key and
// verify it against the digest, and returns the volume pointed at device
// (devSize bytes) with every dm-crypt table value (cipher, offset, size,
// sector size, iv_tweak) taken from the validated layout and no flags: dm
// flags come only from the measured config. A panic inside luks.go becomes
// an error wrapping ErrHeaderRejected. The caller wipes the volume key with
// WipeVolumeKey once dm-crypt has it.
func Unseal(m *Metadata, key []byte, dir, device string, devSize uint64) (vol *luks.Volume, err error) {
	defer func() {
		if p := recover(); p != nil {
			vol, err = nil, rejectf("luks.go panicked: %v", p)
		}
	}()
	if err := m.Fits(devSize); err != nil {
		return nil, err
	}
	vol, err = openVolume(m, key, dir)
	if err != nil {
		return nil, err
	}
	if err := m.matches(vol); err != nil {
		WipeVolumeKey(vol)
		return nil, err
	}
	vol.BackingDevice, vol.Flags = device, nil
	vol.StorageOffset, vol.StorageSize = m.Offset, m.DataSize(devSize)
	vol.StorageEncryption, vol.StorageIvTweak, vol.StorageSectorSize = m.Cipher, m.IVTweak, m.SectorSize
	return vol, nil
}

// CheckKey runs the key check the guest runs (Unseal on the validated
// detached copy) without device-mapper, and wipes the volume key.
func CheckKey(m *Metadata, key []byte, dir string) error {
	vol, err := Unseal(m, key, dir, "/dev/null", m.Offset+m.SectorSize+m.Size)
	if err != nil {
		return err
	}
	WipeVolumeKey(vol)
	return nil
}

func openVolume(m *Metadata, key []byte, dir string) (*luks.Volume, error) {
	f, err := os.CreateTemp(dir, "luks-*.hdr")
	if err != nil {
		return nil, fmt.Errorf("detached header: %w", err)
	}
	defer os.Remove(f.Name())
	err = m.writeDetached(f)
	if errc := f.Close(); err == nil {
		err = errc
	}
	if err != nil {
		return nil, fmt.Errorf("writing detached header: %w", err)
	}
	dev, err := luks.Open(f.Name())
	if err != nil {
		return nil, rejectf("luks.go: %v", err)
	}
	defer dev.Close()
	var errs []error
	for _, slot := range dev.Slots() {
		vol, err := dev.UnsealVolume(slot, key)
		if err == nil {
			return vol, nil
		}
		errs = append(errs, fmt.Errorf("keyslot %d: %w", slot, err))
	}
	return nil, fmt.Errorf("%w: %w", ErrWrongKey, errors.Join(errs...))
}

// writeDetached writes the parts of the validated region luks.go reads (the
// primary header and the keyslot areas) at their offsets into a sparse file
// of the region's size; the holes read as zeros.
func (m *Metadata) writeDetached(f *os.File) error {
	if err := f.Truncate(int64(len(m.Region))); err != nil {
		return err
	}
	if _, err := f.WriteAt(m.Region[:m.HdrSize], 0); err != nil {
		return err
	}
	for _, a := range m.areas {
		if _, err := f.WriteAt(m.Region[a.off:a.end], int64(a.off)); err != nil {
			return err
		}
	}
	return nil
}

// matches cross-checks what luks.go read from the copy against the guard's
// layout; a difference means the two parsers disagree about the header.
func (m *Metadata) matches(v *luks.Volume) error {
	k := volumeKey(v)
	if len(k) != m.KeySize || v.StorageOffset != m.Offset || v.StorageEncryption != m.Cipher ||
		v.StorageSectorSize != m.SectorSize || v.StorageIvTweak != m.IVTweak || v.LuksType != "LUKS2" {
		return rejectf("luks.go read the validated header differently (key %d bytes, offset %d, %q, sector %d, iv_tweak %d)",
			len(k), v.StorageOffset, v.StorageEncryption, v.StorageSectorSize, v.StorageIvTweak)
	}
	return nil
}

// volumeKey returns the volume key luks.go keeps in an unexported field, or
// nil if luks.go changed the field.
func volumeKey(v *luks.Volume) []byte {
	f := reflect.ValueOf(v).Elem().FieldByName("key")
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
		return nil
	}
	return unsafe.Slice((*byte)(f.UnsafePointer()), f.Len())
}

// WipeVolumeKey zeroes the volume key luks.go keeps in v.
func WipeVolumeKey(v *luks.Volume) { clear(volumeKey(v)) }
