package disktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Key is the passphrase Image seals with.
var Key = []byte("0123456789abcdef0123456789abcdef")

// Image makes a 20 MiB LUKS2 image with cryptsetup luksFormat (UUID, key
// file holding Key, the given extra arguments) and returns its path and the
// directory it is in. Without cryptsetup the test is skipped, unless CI is
// "true": there it fails.
func Image(t testing.TB, args ...string) (img, dir string) {
	t.Helper()
	dir = t.TempDir()
	img = filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil || os.Truncate(img, 20<<20) != nil {
		t.Fatal("creating image")
	}
	all := append([]string{"luksFormat", "--type", "luks2", "--batch-mode", "--uuid", UUID}, args...)
	Cryptsetup(t, dir, append(all, img)...)
	return img, dir
}

// Cryptsetup runs cryptsetup with --key-file set to a file holding Key in
// dir, failing the test on error.
func Cryptsetup(t testing.TB, dir string, args ...string) {
	t.Helper()
	cs, err := exec.LookPath("cryptsetup")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cryptsetup is required in CI")
		}
		t.Skip("cryptsetup not installed (install it to run the LUKS2 image tests)")
	}
	keyfile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyfile, Key, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cs, append([]string{"--key-file", keyfile}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("cryptsetup %v: %v\n%s", args, err, out)
	}
}
