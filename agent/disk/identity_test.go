package disk_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

// otherKeyImage formats a second image with the same UUID and another key
// (call it after disktest.Image, which skips without cryptsetup).
func otherKeyImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	other := filepath.Join(dir, "other.img")
	keyfile := filepath.Join(dir, "other.key")
	if os.WriteFile(keyfile, []byte("another key, made by the host"), 0o600) != nil ||
		os.WriteFile(other, nil, 0o600) != nil || os.Truncate(other, 20<<20) != nil {
		t.Fatal("writing files")
	}
	args := append([]string{"luksFormat", "--type", "luks2", "--batch-mode", "--uuid", disktest.UUID,
		"--key-file", keyfile}, pbkdf2Args...)
	if out, err := exec.Command("cryptsetup", append(args, other)...).CombinedOutput(); err != nil {
		t.Fatalf("cryptsetup: %v\n%s", err, out)
	}
	return other
}

// expectedIdentity computes the documented encoding from cryptsetup's own
// JSON dump (an independent reader of the header).
func expectedIdentity(t *testing.T, img string, m *disk.Metadata) string {
	t.Helper()
	out, err := exec.Command("cryptsetup", "luksDump", "--dump-json-metadata", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Keyslots map[string]struct {
			Area struct{ Offset, Size string } `json:"area"`
			KDF  struct{ Salt string }         `json:"kdf"`
		} `json:"keyslots"`
		Segments map[string]struct {
			Offset, Size, IVTweak, Encryption string
			SectorSize                        int `json:"sector_size"`
		} `json:"segments"`
		Digests map[string]struct{ Salt, Digest string } `json:"digests"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	h := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return hex.EncodeToString(b) }
	seg := d.Segments["0"]
	size := seg.Size
	if size == "dynamic" {
		size = "0"
	}
	text := fmt.Sprintf("cvminit-luks2-identity-v1\nuuid=%s\nhdr_size=%d\noffset=%s\nsize=%s\nsector_size=%d\n"+
		"cipher=%s\nkey_size=64\niv_tweak=%s\n", strings.ToLower(disktest.UUID), m.HdrSize, seg.Offset, size,
		seg.SectorSize, seg.Encryption, "0")
	for _, dg := range d.Digests {
		text += "digest_salt=" + h(dg.Salt) + "\ndigest=" + h(dg.Digest) + "\n"
	}
	var slots []string
	for _, k := range d.Keyslots {
		slots = append(slots, fmt.Sprintf("%s,%s,%s", k.Area.Offset, k.Area.Size, h(k.KDF.Salt)))
	}
	sort.Strings(slots) // one keyslot here
	for _, s := range slots {
		text += "keyslot=" + s + "\n"
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func TestIdentity(t *testing.T) {
	img, _ := disktest.Image(t, pbkdf2Args...)
	other := otherKeyImage(t)
	a, a2, b := readImage(t, img), readImage(t, img), readImage(t, other)
	if a.Identity() != a2.Identity() {
		t.Errorf("same image read twice: %s != %s", a.Identity(), a2.Identity())
	}
	if want := expectedIdentity(t, img, a); a.Identity() != want {
		t.Errorf("Identity = %s, want %s (from cryptsetup's dump)", a.Identity(), want)
	}
	if a.UUID != b.UUID {
		t.Fatalf("UUIDs differ: %s %s", a.UUID, b.UUID)
	}
	if a.Identity() == b.Identity() {
		t.Errorf("same UUID, other key: identities equal (%s)", a.Identity())
	}
	if err := a.Match(strings.ToUpper(disktest.UUID), a.Identity()); err != nil {
		t.Errorf("Match(own identity) = %v", err)
	}
	for name, err := range map[string]error{
		"other identity": a.Match(disktest.UUID, b.Identity()),
		"other uuid":     a.Match("00000000-0000-4000-8000-000000000000", a.Identity()),
		"empty identity": a.Match(disktest.UUID, ""),
	} {
		if !errors.Is(err, disk.ErrIdentityMismatch) {
			t.Errorf("%s: Match = %v, want ErrIdentityMismatch", name, err)
		}
	}
}
