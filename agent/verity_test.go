package agent

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
)

// testVerity is the dm-verity description the fake broker releases by
// default: 2048 data blocks of 4 KiB (8 MiB), the tree right after them.
func testVerity() *disk.Verity {
	return &disk.Verity{
		RootHash:      "95af95953b7658aa93b17726cc6ba443c4738a29e6328537316311ce30a2783e",
		Salt:          "111130ec9ac96837e3710443c440330ca0183d0a6bf5261bec7dda45af0f2693",
		Algorithm:     "sha256",
		DataBlockSize: 4096, HashBlockSize: 4096, DataBlocks: 2048, HashOffset: 2048 * 4096,
	}
}

// TestVerityTableText checks the table against the format of the kernel's
// Documentation/admin-guide/device-mapper/verity.rst:
// <version> <data dev> <hash dev> <data blk size> <hash blk size>
// <#data blocks> <hash start block> <alg> <digest> <salt>.
func TestVerityTableText(t *testing.T) {
	v := testVerity()
	// version 1; data and hash on the crypt device; 4096-byte blocks; 2048
	// data blocks; the tree at byte 8388608 = hash block 8388608/4096 = 2048.
	want := "1 /dev/mapper/root-crypt /dev/mapper/root-crypt 4096 4096 2048 2048 sha256 " +
		"95af95953b7658aa93b17726cc6ba443c4738a29e6328537316311ce30a2783e " +
		"111130ec9ac96837e3710443c440330ca0183d0a6bf5261bec7dda45af0f2693"
	tbl, err := newVerityTable("/dev/mapper/root-crypt", v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.String(); got != want {
		t.Errorf("table\n got %q\nwant %q", got, want)
	}
	if tbl.Length() != 8<<20 {
		t.Errorf("Length = %d, want 8 MiB (the data blocks only)", tbl.Length())
	}
	v.Salt = ""
	tbl, err = newVerityTable("/dev/dm-0", v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tbl.String(), " sha256 "+v.RootHash+" -") {
		t.Errorf("table without salt = %q, want the salt spelt \"-\"", tbl)
	}
}

// TestVerityTableOnlyFromCheckedValues: a description outside the
// allow-list never becomes a table.
func TestVerityTableOnlyFromCheckedValues(t *testing.T) {
	bad := map[string]func(v *disk.Verity){
		"sha1":            func(v *disk.Verity) { v.Algorithm = "sha1" },
		"512-byte blocks": func(v *disk.Verity) { v.DataBlockSize = 512 },
		"tree elsewhere":  func(v *disk.Verity) { v.HashOffset += 4096 },
		"salt with space": func(v *disk.Verity) { v.Salt = "00 --" },
		"upper-case hash": func(v *disk.Verity) { v.RootHash = strings.ToUpper(v.RootHash) },
		"no data":         func(v *disk.Verity) { v.DataBlocks, v.HashOffset = 0, 0 },
	}
	for name, mutate := range bad {
		v := testVerity()
		mutate(v)
		if tbl, err := newVerityTable("/dev/dm-0", v); err == nil {
			t.Errorf("%s: table %q, want an error", name, tbl)
		}
	}
}

// TestVerityTreeBlocks: 128 SHA-256 digests fit a 4 KiB hash block; each
// level has ceil(blocks below / 128) blocks, up to a level of one block.
func TestVerityTreeBlocks(t *testing.T) {
	tests := []struct{ data, want uint64 }{
		{1, 0},               // the root is the data block's digest
		{2, 1},               // one level of one block
		{128, 1},             // still one block
		{129, 2 + 1},         // 2 leaves, 1 root block
		{300, 3 + 1},         // ceil(300/128) = 3
		{2048, 16 + 1},       // 16 leaves
		{16385, 129 + 2 + 1}, // ceil(16385/128) = 129, ceil(129/128) = 2
		{1 << 40, 1<<33 + 1<<26 + 1<<19 + 1<<12 + 1<<5 + 1}, // the allow-list's maximum
	}
	for _, tt := range tests {
		if got := verityTreeBlocks(tt.data, 128); got != tt.want {
			t.Errorf("verityTreeBlocks(%d) = %d, want %d", tt.data, got, tt.want)
		}
	}
	if got := verityNeed(testVerity()); got != (2048+17)*4096 {
		t.Errorf("verityNeed = %d, want (2048 + 17) * 4096", got)
	}
}

// TestVerityNeedMatchesVeritysetup: the volume size the guest requires is
// exactly what veritysetup writes (data, then the tree at hash_offset).
func TestVerityNeedMatchesVeritysetup(t *testing.T) {
	vs, err := exec.LookPath("veritysetup")
	if err != nil {
		t.Skip("veritysetup not installed (Debian cryptsetup-bin)")
	}
	for _, n := range []uint64{1, 129, 300} {
		img := filepath.Join(t.TempDir(), "v.img")
		data := make([]byte, n*4096)
		_, _ = rand.Read(data)
		if err := os.WriteFile(img, data, 0o600); err != nil {
			t.Fatal(err)
		}
		off := strconv.FormatUint(n*4096, 10)
		out, err := exec.Command(vs, "format", "--no-superblock", "--hash=sha256", "--hash-offset="+off,
			"--data-blocks="+strconv.FormatUint(n, 10), img, img).CombinedOutput()
		if err != nil {
			t.Fatalf("veritysetup format: %v\n%s", err, out)
		}
		fi, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		v := &disk.Verity{DataBlocks: n, HashOffset: n * 4096, DataBlockSize: 4096, HashBlockSize: 4096}
		if got := verityNeed(v); got != uint64(fi.Size()) {
			t.Errorf("%d data blocks: verityNeed = %d, veritysetup wrote %d bytes", n, got, fi.Size())
		}
	}
}
