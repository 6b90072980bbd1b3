//go:build linux

package e2e

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/klog"
)

// The ciphertext scenarios of issue 6 (SECURITY.md H6): the host changes
// one byte of the sealed disk. AES-XTS alone would hand the guest a
// garbled sector as if it were data; dm-verity must turn it into an I/O
// error for exactly what was changed, and the header guard must refuse a
// changed header.

// testFileDataFlipped flips one ciphertext byte inside a data block of
// BlobPath: the guest boots, and reading the blob fails.
func testFileDataFlipped(t *testing.T, e *Env) {
	blocks := blobBlocks(t, e)
	b := blocks[len(blocks)/2]
	d := flipped(t, e, "disk-data-flipped.img", dataOffset(t, e)+b*disk.VerityBlockSize+123)
	r := boot(t, e, "data-flipped", BootOptions{Disk: d})
	wantOK(t, r)
	wantBlob(t, r, false)
}

// testHashTreeFlipped flips one byte of the leaf hash of a blob block, in a
// leaf hash block that covers blob blocks only: the guest boots, and
// reading the blob fails.
func testHashTreeFlipped(t *testing.T, e *Env) {
	blocks := blobBlocks(t, e)
	v, err := ReadVerity(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := coveredBlock(blocks)
	if !ok {
		t.Fatalf("no leaf hash block of the tree covers blob blocks only (blob blocks %d..%d)", blocks[0], blocks[len(blocks)-1])
	}
	d := flipped(t, e, "disk-hash-flipped.img", dataOffset(t, e)+LeafHashOffset(*v, b)+5)
	r := boot(t, e, "hash-flipped", BootOptions{Disk: d})
	wantOK(t, r)
	wantBlob(t, r, false)
}

// testHeaderByteFlipped flips one byte of the LUKS2 JSON metadata without
// fixing the checksum: the guard refuses the header.
func testHeaderByteFlipped(t *testing.T, e *Env) {
	d := flipped(t, e, "disk-header-flipped.img", 4096+40)
	r := boot(t, e, "header-flipped", BootOptions{Disk: d})
	wantFail(t, r, klog.CodeHeaderRejected, "unlock")
	wantNoOS(t, e, r)
}

func blobBlocks(t *testing.T, e *Env) []uint64 {
	t.Helper()
	blocks, err := FileBlocks(context.Background(), e.Tools, e.Rootfs, BlobPath)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// coveredBlock returns a blob block whose whole leaf hash block (the
// hashesPerBlock data blocks it covers) lies inside the blob.
func coveredBlock(blocks []uint64) (uint64, bool) {
	for _, b := range blocks {
		first := b / hashesPerBlock * hashesPerBlock
		all := true
		for c := first; c < first+hashesPerBlock && all; c++ {
			all = slices.Contains(blocks, c)
		}
		if all {
			return first + hashesPerBlock/2, true
		}
	}
	return 0, false
}

// dataOffset is where the encrypted volume starts in the sealed disk.
func dataOffset(t *testing.T, e *Env) uint64 {
	t.Helper()
	f, err := os.Open(e.Disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := disk.ReadMetadata(f, uint64(fi.Size()), "")
	if err != nil {
		t.Fatal(err)
	}
	return m.Offset
}

// flipped copies the sealed disk to the work file name with one bit of the
// byte at off inverted.
func flipped(t *testing.T, e *Env, name string, off uint64) string {
	t.Helper()
	out := e.path(name)
	if err := copyFile(e.Disk, out); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
	return out
}
