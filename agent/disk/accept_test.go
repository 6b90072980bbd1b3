package disk_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

var (
	pbkdf2Args = []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	argonArgs  = func(kdf string) []string {
		return []string{"--pbkdf", kdf, "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32768", "--pbkdf-parallel", "2"}
	}
)

// addKeyslots adds an argon2id and a pbkdf2 keyslot, imports a token and
// raises one keyslot's priority.
func addKeyslots(t testing.TB, img, dir string) {
	newKey := filepath.Join(dir, "key2")
	tok := filepath.Join(dir, "token.json")
	if os.WriteFile(newKey, []byte("another passphrase"), 0o600) != nil ||
		os.WriteFile(tok, []byte(`{"type":"cvm-note","keyslots":["1"],"note":{"x":[1,2]}}`), 0o600) != nil {
		t.Fatal("writing files")
	}
	disktest.Cryptsetup(t, dir, append(append([]string{"luksAddKey"}, argonArgs("argon2id")...), img, newKey)...)
	disktest.Cryptsetup(t, dir, append(append([]string{"luksAddKey"}, pbkdf2Args...), img, newKey)...)
	disktest.Cryptsetup(t, dir, "token", "import", "--json-file", tok, img)
	disktest.Cryptsetup(t, dir, "config", "--priority", "prefer", "--key-slot", "1", img)
}

// dumped is what cryptsetup itself says about an image (the independent
// source of the expected layout).
type dumped struct {
	Keyslots map[string]json.RawMessage `json:"keyslots"`
	Tokens   map[string]json.RawMessage `json:"tokens"`
	Segments map[string]struct {
		Offset     string `json:"offset"`
		SectorSize uint64 `json:"sector_size"`
	} `json:"segments"`
	Config struct {
		JSONSize string `json:"json_size"`
	} `json:"config"`
}

func dump(t *testing.T, img string) dumped {
	t.Helper()
	out, err := exec.Command("cryptsetup", "luksDump", "--dump-json-metadata", img).Output()
	var d dumped
	if err != nil || json.Unmarshal(out, &d) != nil || len(d.Segments) != 1 {
		t.Fatalf("cryptsetup luksDump: %v\n%s", err, out)
	}
	return d
}

func TestAcceptsCryptsetupImages(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		tokens int
		extra  func(t testing.TB, img, dir string)
	}{
		{"pbkdf2 512-byte sectors", append([]string{"--sector-size", "512"}, pbkdf2Args...), 0, nil},
		{"pbkdf2 4096-byte sectors (cvmctl seal, e2e)", append([]string{"--sector-size", "4096"}, pbkdf2Args...), 0, nil},
		{"argon2id", append([]string{"--sector-size", "4096"}, argonArgs("argon2id")...), 0, nil},
		{"argon2i", append([]string{"--sector-size", "512"}, argonArgs("argon2i")...), 0, nil},
		{"32 KiB header, 1 MiB keyslots area",
			append([]string{"--luks2-metadata-size", "32k", "--luks2-keyslots-size", "1m"}, pbkdf2Args...), 0, nil},
		{"three keyslots, a token, a priority", append([]string{"--sector-size", "4096"}, pbkdf2Args...), 1, addKeyslots},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, dir := disktest.Image(t, tt.args...)
			if tt.extra != nil {
				tt.extra(t, img, dir)
			}
			want := dump(t, img)
			m := readImage(t, img)
			var seg string
			for k := range want.Segments {
				seg = k
			}
			js, _ := strconv.ParseUint(want.Config.JSONSize, 10, 64)
			if strconv.FormatUint(m.Offset, 10) != want.Segments[seg].Offset || m.SectorSize != want.Segments[seg].SectorSize ||
				m.HdrSize != js+4096 || m.Keyslots != len(want.Keyslots) || len(want.Tokens) != tt.tokens ||
				m.Size != 0 || m.Cipher != "aes-xts-plain64" || m.KeySize != 64 || m.UUID != disktest.UUID {
				t.Errorf("layout %+v; cryptsetup says %+v", m.Layout, want)
			}
			if err := disk.CheckKey(m, disktest.Key, t.TempDir()); err != nil {
				t.Errorf("CheckKey(right key): %v", err)
			}
			if err := disk.CheckKey(m, []byte("wrong key"), t.TempDir()); !errors.Is(err, disk.ErrWrongKey) {
				t.Errorf("CheckKey(wrong key) = %v, want ErrWrongKey", err)
			}
		})
	}
}

// readImage runs ReadMetadata on an image file.
func readImage(t *testing.T, img string) *disk.Metadata {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := disk.ReadMetadata(f, uint64(st.Size()), disktest.UUID)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	return m
}
