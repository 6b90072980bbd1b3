package disk_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	luks "github.com/anatol/luks.go"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

// TestUnsealTakesTheTableFromTheLayout unseals a cryptsetup image and checks
// the dm-crypt values against what cryptsetup was told.
func TestUnsealTakesTheTableFromTheLayout(t *testing.T) {
	img, _ := disktest.Image(t, append([]string{"--sector-size", "4096"}, pbkdf2Args...)...)
	m := readImage(t, img)
	dir := t.TempDir()
	vol, err := disk.Unseal(m, disktest.Key, dir, "/dev/vdz", 20<<20+1000)
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	defer disk.WipeVolumeKey(vol)
	if vol.BackingDevice != "/dev/vdz" || vol.StorageOffset != 16<<20 || vol.StorageSize != 4<<20 ||
		vol.StorageSectorSize != 4096 || vol.StorageEncryption != "aes-xts-plain64" || vol.StorageIvTweak != 0 || vol.Flags != nil {
		t.Errorf("volume %+v: want /dev/vdz, 4 MiB at 16 MiB, 4096-byte sectors, aes-xts-plain64, no flags", vol)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("detached header left behind: %v", ents)
	}
	if _, err := disk.Unseal(m, disktest.Key, dir, "/dev/vdz", 16<<20); !errors.Is(err, disk.ErrHeaderRejected) {
		t.Errorf("Unseal on a device without data = %v, want ErrHeaderRejected", err)
	}
}

// TestGuardStopsWhatLuksGoAccepts: with the right key, luks.go maps a
// cipher_null segment; the guard refuses the header before any key
// derivation.
func TestGuardStopsWhatLuksGoAccepts(t *testing.T) {
	img, _ := disktest.Image(t, append([]string{"--sector-size", "4096"}, pbkdf2Args...)...)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := disktest.Rewrite(raw, jsonAttacks["cipher_null segment"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disk.CheckRegion(evil[:16<<20], disktest.UUID); !errors.Is(err, disk.ErrHeaderRejected) {
		t.Fatalf("guard: %v, want ErrHeaderRejected", err)
	}
	p := filepath.Join(t.TempDir(), "evil.img")
	if err := os.WriteFile(p, evil, 0o600); err != nil {
		t.Fatal(err)
	}
	dev, err := luks.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	vol, err := dev.UnsealVolume(0, disktest.Key)
	if err != nil || vol.StorageEncryption != "cipher_null-ecb" {
		t.Fatalf("luks.go alone: %v, %+v; the attack no longer shows what the guard is for", err, vol)
	}
	disk.WipeVolumeKey(vol)
}

// BenchmarkUnseal: key to dm-crypt table for a sealed-style keyslot (pbkdf2,
// 1000 iterations), detached header in $XDG_RUNTIME_DIR (tmpfs, as /run in
// the guest) or a temporary directory.
func BenchmarkUnseal(b *testing.B) {
	img, _ := disktest.Image(b, append([]string{"--sector-size", "4096"}, pbkdf2Args...)...)
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dir := b.TempDir()
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dir = d
	}
	m, err := disk.ReadMetadata(f, 20<<20, disktest.UUID)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		vol, err := disk.Unseal(m, disktest.Key, dir, "/dev/vdz", 20<<20)
		if err != nil {
			b.Fatal(err)
		}
		disk.WipeVolumeKey(vol)
	}
}
