//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
)

// TestLeafHashOffset checks LeafHashOffset against a tree veritysetup
// made: at the offset it names lies SHA-256(salt ‖ block) of that data
// block (format 1 prepends the salt), for blocks across several leaf blocks.
func TestLeafHashOffset(t *testing.T) {
	veritysetup, err := lookPath("veritysetup")
	if err != nil {
		unavailable(t, ErrUnavailable)
	}
	const blocks = 2*hashesPerBlock + 5 // two levels, as the e2e root file systems have
	data := make([]byte, blocks*disk.VerityBlockSize)
	for i := range blocks {
		copy(data[i*disk.VerityBlockSize:], strconv.Itoa(i*7919))
	}
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.WriteFile(vol, data, 0o600); err != nil {
		t.Fatal(err)
	}
	salt := "00112233445566778899aabbccddeeff"
	v := disk.Verity{Salt: salt, DataBlocks: blocks, HashOffset: uint64(len(data))}
	if _, err := runTool(context.Background(), "", veritysetup, "format", "--no-superblock", "--hash=sha256",
		"--data-block-size=4096", "--hash-block-size=4096", "--salt="+salt,
		"--hash-offset="+strconv.FormatUint(v.HashOffset, 10), vol, vol); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(vol)
	if err != nil {
		t.Fatal(err)
	}
	saltBytes, _ := hex.DecodeString(salt)
	for _, b := range []uint64{0, 1, hashesPerBlock - 1, hashesPerBlock, blocks / 2, blocks - 1} {
		want := sha256.Sum256(append(append([]byte{}, saltBytes...), data[b*disk.VerityBlockSize:(b+1)*disk.VerityBlockSize]...))
		off := LeafHashOffset(v, b)
		if off+32 > uint64(len(img)) || !bytes.Equal(img[off:off+32], want[:]) {
			t.Errorf("block %d: no leaf hash at offset %d", b, off)
		}
	}
}
