package disk_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

// seeds are primary headers: the fixture, cryptsetup's own images when
// cryptsetup is installed, and a few attacks.
func seeds(f *testing.F) [][]byte {
	fix := disktest.Fixture(disktest.UUID, nil)
	out := [][]byte{fix[:disktest.FixtureHdrSize]}
	for _, name := range []string{"cipher_null segment", "sector size 0", "over-long digest", "argon2 cpus 256", "huge key size"} {
		r, err := disktest.Rewrite(fix, jsonAttacks[name])
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, r[:disktest.FixtureHdrSize])
	}
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		return out
	}
	for _, args := range [][]string{pbkdf2Args, argonArgs("argon2id")} {
		img, _ := disktest.Image(f, append([]string{"--sector-size", "4096"}, args...)...)
		raw, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, raw[:16384])
	}
	return out
}

// checkInvariants fails if an accepted layout breaks the allow-list.
func checkInvariants(t *testing.T, l disk.Layout) {
	if l.Cipher != disk.Cipher || l.KeySize != disk.VolumeKeySize || l.IVTweak != 0 ||
		(l.SectorSize != 512 && l.SectorSize != 4096) || l.Offset%l.SectorSize != 0 || l.Size%l.SectorSize != 0 ||
		l.Offset < 2*l.HdrSize || l.Offset > disk.MaxMetadata || l.Keyslots < 1 {
		t.Fatalf("accepted layout breaks the allow-list: %+v", l)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := disk.Check(b, ""); err == nil {
			checkInvariants(t, l)
		}
		_, _ = disk.Check(b, disktest.UUID)
		_, _ = disk.ParseBinary(b)
	})
}

// FuzzCheckJSON fuzzes the JSON text behind a valid binary header and
// checksum, where the host has full control.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(disktest.JSONText(s))
	}
	hdr := disktest.Fixture(disktest.UUID, nil)[:2*disktest.FixtureHdrSize]
	f.Fuzz(func(t *testing.T, text []byte) {
		if len(text) > disktest.FixtureHdrSize-4096 {
			return
		}
		b := disktest.WithJSONText(hdr, text)
		if l, err := disk.Check(b, disktest.UUID); err == nil {
			checkInvariants(t, l)
		}
	})
}
