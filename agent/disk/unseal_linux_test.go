package disk_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
// the guest) or a temporary directory. Baselines, timed in the same run:
// luks.go's own unseal of the same image, in the same iterations (the key
// derivation and anti-forensic merge without the guard, the header copy and
// the identity check: "ratio" is ours over it), and `cryptsetup open --test-passphrase`
// (the same derivation in the tool operators know, process start included).
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
	tool := perOp(b, 10, func() error { return cryptsetupTest(img) })
	var ours, luksGo time.Duration
	for b.Loop() {
		t0 := time.Now()
		vol, err := disk.Unseal(m, disktest.Key, dir, "/dev/vdz", 20<<20)
		if err != nil {
			b.Fatal(err)
		}
		disk.WipeVolumeKey(vol)
		b.StopTimer()
		t1 := time.Now()
		if err := luksGoUnseal(img); err != nil {
			b.Fatal(err)
		}
		ours, luksGo = ours+t1.Sub(t0), luksGo+time.Since(t1)
		b.StartTimer()
	}
	b.ReportMetric(float64(luksGo.Microseconds())/1000/float64(b.N), "luksgo-ms")
	b.ReportMetric(float64(tool.Microseconds())/1000, "cryptsetup-ms")
	b.ReportMetric(float64(ours)/float64(luksGo), "ratio")
}

// perOp returns the mean time of n runs of f.
func perOp(b *testing.B, n int, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	for range n {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// luksGoUnseal opens keyslot 0 of img with luks.go alone.
func luksGoUnseal(img string) error {
	dev, err := luks.Open(img)
	if err != nil {
		return err
	}
	defer dev.Close()
	vol, err := dev.UnsealVolume(0, disktest.Key)
	if err != nil {
		return err
	}
	disk.WipeVolumeKey(vol)
	return nil
}

// cryptsetupTest checks the key with cryptsetup, the key on stdin.
func cryptsetupTest(img string) error {
	cmd := exec.Command("cryptsetup", "open", "--test-passphrase", "--key-file", "-", img)
	cmd.Stdin = bytes.NewReader(disktest.Key)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cryptsetup open --test-passphrase: %w: %s", err, out)
	}
	return nil
}
