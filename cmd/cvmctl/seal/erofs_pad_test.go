//go:build unix

package seal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSealErofsPadsToBlocks: an erofs image that is not whole 4096-byte
// blocks (mkfs.erofs followed by a few bytes more, as a mkfs.erofs with
// smaller blocks could write) is padded with zeros to the next block: the
// verity data blocks cover all of it, and it still checks.
func TestSealErofsPadsToBlocks(t *testing.T) {
	needErofs(t)
	dir := t.TempDir()
	sizeFile, wrapper := filepath.Join(dir, "size"), filepath.Join(dir, "mkfs.erofs")
	script := fmt.Sprintf(`#!/bin/sh
set -e
%q "$@"
for a; do img=$dir; dir=$a; done
printf 'tail' >>"$img"
stat -c %%s "$img" >%q
`, toolPath(t, toolMkfsErofs), sizeFile)
	must(t, os.WriteFile(wrapper, []byte(script), 0o755))

	r, _ := sealT(t, Options{Input: makeTree(t), FS: FSErofs, Tools: Tools{MkfsErofs: wrapper}})
	made, err := strconv.ParseInt(strings.TrimSpace(string(readAll(t, sizeFile))), 10, 64)
	must(t, err)
	m := readManifest(t, r.Manifest)
	want := (made + 4095) / 4096 * 4096
	if made%4096 == 0 || m.Sizes.FS != want || m.Verity.DataBlocks*4096 != uint64(want) {
		t.Fatalf("mkfs wrote %d bytes; file system %d, verity data blocks %d; want %d", made, m.Sizes.FS,
			m.Verity.DataBlocks, want)
	}
	p := readPayload(t, r.Payload)
	meta := guardAndKey(t, r.Image, p)
	checkSizes(t, r.Image, m, meta)
	fsImg := volumeFS(t, r.Image, p, m, meta.Offset)
	b := readAll(t, fsImg)
	if string(b[made-4:made]) != "tail" || !bytes.Equal(b[made:], make([]byte, want-made)) {
		t.Errorf("the volume does not hold mkfs's bytes then zeros: %q", b[made-4:])
	}
	sameTree(t, makeTree(t), fsckExtract(t, fsImg))
}

// TestSealErofsFSImage seals an erofs image made by mkfs.erofs itself,
// with erofs-utils out of reach (a ready image needs no mkfs): the
// decrypted volume begins with exactly the image's bytes, which fsck.erofs
// reads back as the tree.
func TestSealErofsFSImage(t *testing.T) {
	needErofs(t)
	tree, dir := makeTree(t), t.TempDir()
	img := filepath.Join(dir, "fs.erofs")
	cmd(t, toolPath(t, toolMkfsErofs), "-zlz4hc", img, tree)
	fsck := toolPath(t, toolFsckErofs)
	if fi, err := os.Stat(img); err != nil || fi.Size()%4096 != 0 {
		t.Fatalf("mkfs.erofs wrote %v (%v): not whole blocks, seal would refuse it", fi.Size(), err)
	}
	hidePath(t, toolMkfsErofs)

	r, _ := sealT(t, Options{FSImage: img, FS: FSErofs})
	m := readManifest(t, r.Manifest)
	if _, ok := m.Tools["mkfs.erofs"]; ok || m.Input.Kind != "fs-image" || m.FS.Type != FSErofs {
		t.Errorf("manifest: tools %v, input %q, fs %q", m.Tools, m.Input.Kind, m.FS.Type)
	}
	p := readPayload(t, r.Payload)
	meta := guardAndKey(t, r.Image, p)
	fsImg := volumeFS(t, r.Image, p, m, meta.Offset)
	if !bytes.Equal(readAll(t, fsImg), readAll(t, img)) {
		t.Error("the decrypted file system is not the given image")
	}
	cmd(t, fsck, fsImg)
}

// hidePath sets PATH to an empty directory, so LookTool finds only what is
// in /usr/sbin and /sbin (cryptsetup-bin, e2fsprogs), and makes sure tl is
// then out of reach.
func hidePath(t *testing.T, tl tool) {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
	if p, err := LookTool(tl.name, tl.pkg); err == nil {
		t.Skipf("%s is in %s: cannot hide it", tl.name, filepath.Dir(p))
	}
}
