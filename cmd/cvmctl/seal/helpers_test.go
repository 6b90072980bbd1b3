package seal

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/crypto/xts"

	"github.com/cvminit/cvminit/agent/disk"
)

// needTools skips (or, under CI, fails) when a real tool is missing.
func needTools(t testing.TB) {
	t.Helper()
	for _, tl := range []tool{toolMkfsExt4, toolDebugfs, toolVeritysetup, toolCryptsetup} {
		if _, err := LookTool(tl.name, tl.pkg); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI must have %s: %v", tl.name, err)
			}
			t.Skipf("%v", err)
		}
	}
}

// tool path for tests (after needTools).
func toolPath(t testing.TB, tl tool) string {
	t.Helper()
	p, err := LookTool(tl.name, tl.pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// makeTree writes a small root file system: files, a symlink, an empty
// directory, a hard link, a setuid and a private file.
func makeTree(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "bin", "var/empty", "usr/lib"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte("sealed-host\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "etc/shadow"), []byte("root:*:1::::::\n"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "bin/tool"), bytes.Repeat([]byte("\x7fELF tool "), 3000), 0o755))
	must(os.Chmod(filepath.Join(dir, "bin/tool"), 0o755|os.ModeSetuid)) // 0o4755 would lose the setuid bit
	must(os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/tool2")))
	must(os.Symlink("../bin/tool", filepath.Join(dir, "usr/lib/tool")))
	must(os.Symlink("/etc/hostname", filepath.Join(dir, "etc/name")))
	return dir
}

// sealT seals with o (outputs in a fresh directory unless set) and returns
// the result and the output directory.
func sealT(t testing.TB, o Options) (*Result, string) {
	t.Helper()
	out := t.TempDir()
	if o.Output == "" {
		o.Output = filepath.Join(out, "root.img")
	} else {
		out = filepath.Dir(o.Output)
	}
	if o.Payload == "" && o.Store == "" {
		o.Payload = filepath.Join(out, "root.payload.json")
	}
	r, err := Seal(context.Background(), o)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return r, out
}

// readPayload parses a payload file with the guest's decoder.
func readPayload(t testing.TB, path string) *disk.Payload {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := disk.ParsePayload(b)
	if err != nil {
		t.Fatalf("guest refuses the payload: %v", err)
	}
	t.Cleanup(p.Key.Wipe)
	return p
}

func readManifest(t testing.TB, path string) Manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

// cmd runs a tool for a test, with stdin optional, and returns its stdout.
func cmd(t testing.TB, path string, args ...string) []byte {
	t.Helper()
	c := exec.Command(path, args...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", filepath.Base(path), args, err, stderr.String())
	}
	return out
}

// decryptVolume decrypts img's data segment with the reference tool's view
// of the volume key (`cryptsetup luksDump --dump-volume-key`, opened with
// the payload's key) into a plain file, as dm-crypt would show it; the
// data segment starts at offset.
func decryptVolume(t testing.TB, img string, key []byte, offset uint64) string {
	t.Helper()
	dir := t.TempDir()
	keyFile, vkFile := filepath.Join(dir, "key"), filepath.Join(dir, "vk")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd(t, toolPath(t, toolCryptsetup), "luksDump", "--disable-locks", "--batch-mode", "--dump-volume-key",
		"--volume-key-file", vkFile, "--key-file", keyFile, img)
	vk, err := os.ReadFile(vkFile)
	if err != nil || len(vk) != 64 {
		t.Fatalf("volume key: %d bytes, %v", len(vk), err)
	}
	c, err := xts.NewCipher(aes.NewCipher, vk)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	enc := data[offset:]
	plain := make([]byte, len(enc))
	for s := 0; s*LUKSSectorSize < len(enc); s++ { // plain64 IV: 512-byte sector number
		c.Decrypt(plain[s*LUKSSectorSize:(s+1)*LUKSSectorSize], enc[s*LUKSSectorSize:(s+1)*LUKSSectorSize], uint64(s*8))
	}
	out := filepath.Join(dir, "volume")
	if err := os.WriteFile(out, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// verityVerify runs `veritysetup verify` on vol with the manifest's
// parameters and reports whether it accepts.
func verityVerify(t testing.TB, vol string, v VerityInfo) error {
	t.Helper()
	args := []string{"verify", "--no-superblock", "--format=1", "--hash=sha256", "--data-block-size=4096",
		"--hash-block-size=4096", "--data-blocks=" + itoa(v.DataBlocks), "--hash-offset=" + itoa(v.HashOffset),
		"--salt=" + v.Salt, vol, vol, v.RootHash}
	return exec.Command(toolPath(t, toolVeritysetup), args...).Run()
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// dirNames lists a directory's entries.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	slices.Sort(n)
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
