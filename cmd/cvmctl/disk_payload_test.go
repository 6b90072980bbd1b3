package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/cmd/cvmctl/seal"
)

// sealTiny seals a one-file tree with cvmctl seal's package and returns the
// image and its payload file.
func sealTiny(t *testing.T, dir, name string) (img, payload string) {
	t.Helper()
	for _, tool := range [][2]string{{"cryptsetup", "cryptsetup-bin"}, {"veritysetup", "cryptsetup-bin"}, {"mkfs.ext4", "e2fsprogs"}} {
		if _, err := seal.LookTool(tool[0], tool[1]); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
	}
	tree := filepath.Join(dir, name+"-tree")
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "etc", "hostname"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, payload = filepath.Join(dir, name+".img"), filepath.Join(dir, name+".json")
	if _, err := seal.Seal(t.Context(), seal.Options{Input: tree, Output: img, Payload: payload, Size: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	return img, payload
}

// TestDiskCheckPayload: a sealed image passes with its own payload and shows
// its identity and verity root hash; with another disk's payload the image
// is refused for its identity, as the guest would refuse it.
func TestDiskCheckPayload(t *testing.T) {
	dir := t.TempDir()
	img, payload := sealTiny(t, dir, "a")
	_, otherPayload := sealTiny(t, dir, "b")
	raw, _ := os.ReadFile(payload)
	p, err := disk.ParsePayload(raw)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runDisk([]string{"check", "--payload", payload, img}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"ACCEPTED", p.LUKSUUID, "header identity " + p.HeaderSHA256, "verity root hash " + p.Verity.RootHash} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := runDisk([]string{"check", "--payload", otherPayload, img}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stdout.String(), "REFUSED") {
		t.Errorf("another disk's payload: exit %d, %q", code, stdout.String())
	}

	if code := runDisk([]string{"check", "--payload", payload, "--key-file", payload, img}, &stdout, &stderr); code != 2 {
		t.Errorf("--payload with --key-file: exit %d, want 2", code)
	}
}
