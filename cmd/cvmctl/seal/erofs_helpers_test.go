//go:build unix

package seal

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
)

// erofs-utils tools the tests read images with (not seal's: seal only runs
// mkfs.erofs).
var (
	toolFsckErofs = tool{"fsck.erofs", "erofs-utils"}
	toolDumpErofs = tool{"dump.erofs", "erofs-utils"}
)

// needErofs is needTools plus erofs-utils.
func needErofs(t testing.TB) {
	t.Helper()
	needTools(t)
	needTool(t, toolMkfsErofs, toolFsckErofs, toolDumpErofs)
}

// needTool skips (or, under CI, fails) when one of tls is missing.
func needTool(t testing.TB, tls ...tool) {
	t.Helper()
	for _, tl := range tls {
		if _, err := LookTool(tl.name, tl.pkg); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI must have %s: %v", tl.name, err)
			}
			t.Skipf("%v", err)
		}
	}
}

// inodeInfo is what an image says of one inode: uid, gid and the full unix
// mode (type, permissions, setuid, setgid, sticky).
type inodeInfo struct{ uid, gid, mode uint32 }

// erofsInode reads path's inode in an erofs image: uid and gid as
// dump.erofs prints them, and the raw i_mode (dump.erofs shows only the
// permission bits) at byte 4 of the on-disk inode, which lies at
// meta_blkaddr*4096 + nid*32 (erofs_fs.h: erofs_inode_compact and
// erofs_inode_extended both begin with i_format, i_xattr_icount, i_mode).
// ok is false if path is not in the image.
func erofsInode(t *testing.T, img, path string) (inodeInfo, bool) {
	t.Helper()
	dump := toolPath(t, toolDumpErofs)
	out := cmd(t, dump, "--path="+path, img) // exits 0 even for a missing path
	nid := regexp.MustCompile(`NID: (\d+)`).FindSubmatch(out)
	ids := regexp.MustCompile(`Uid: (\d+)\s+Gid: (\d+)`).FindSubmatch(out)
	if nid == nil || ids == nil {
		return inodeInfo{}, false
	}
	meta := regexp.MustCompile(`inode metadata start block:\s+(\d+)`).FindSubmatch(cmd(t, dump, "-s", img))
	if meta == nil {
		t.Fatalf("dump.erofs -s names no inode metadata start block")
	}
	off := atoiT(t, meta[1])*4096 + atoiT(t, nid[1])*32 + 4
	b := readPrefix(t, img, int64(off)+2)
	return inodeInfo{uint32(atoiT(t, ids[1])), uint32(atoiT(t, ids[2])),
		uint32(binary.LittleEndian.Uint16(b[off:]))}, true
}

func atoiT(t testing.TB, b []byte) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lstatInode is inodeInfo of a file on the host.
func lstatInode(t testing.TB, p string) inodeInfo {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return inodeInfo{st.Uid, st.Gid, st.Mode}
}

// fsckExtract checks an erofs image with fsck.erofs, which decompresses
// every file, and extracts it into a new directory.
func fsckExtract(t testing.TB, img string) string {
	t.Helper()
	fsck := toolPath(t, toolFsckErofs)
	cmd(t, fsck, img)
	dir := filepath.Join(t.TempDir(), "x")
	must(t, os.Mkdir(dir, 0o755))
	cmd(t, fsck, "--extract="+dir, img)
	return dir
}

// sameTree: got holds exactly want's entries, of the same types, with the
// same file contents and symlink targets.
func sameTree(t testing.TB, want, got string) {
	t.Helper()
	entries := func(root string) map[string]fs.FileInfo {
		m := map[string]fs.FileInfo{}
		must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			rel, _ := filepath.Rel(root, p)
			m[rel] = fi
			return err
		}))
		return m
	}
	w, g := entries(want), entries(got)
	if len(w) != len(g) {
		t.Errorf("%d entries, want %d", len(g), len(w))
	}
	for rel, wi := range w {
		gi, ok := g[rel]
		switch {
		case !ok:
			t.Errorf("%s missing", rel)
		case gi.Mode().Type() != wi.Mode().Type():
			t.Errorf("%s: type %v, want %v", rel, gi.Mode().Type(), wi.Mode().Type())
		case wi.Mode().IsRegular() && !bytes.Equal(readAll(t, filepath.Join(got, rel)), readAll(t, filepath.Join(want, rel))):
			t.Errorf("%s: content differs", rel)
		case wi.Mode()&fs.ModeSymlink != 0 && readLink(t, filepath.Join(got, rel)) != readLink(t, filepath.Join(want, rel)):
			t.Errorf("%s: symlink target differs", rel)
		}
	}
}

func readAll(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLink(t testing.TB, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// volumeFS decrypts a sealed image, checks the volume with veritysetup and
// returns the file system part (the first data_blocks*4096 bytes) as a file.
func volumeFS(t *testing.T, img string, p *disk.Payload, m Manifest, offset uint64) string {
	t.Helper()
	vol := decryptVolume(t, img, p.Key.Bytes(), offset)
	if err := verityVerify(t, vol, m.Verity); err != nil {
		t.Fatalf("veritysetup verify refuses the decrypted volume: %v", err)
	}
	fsImg := filepath.Join(t.TempDir(), "fs.img")
	must(t, os.WriteFile(fsImg, readPrefix(t, vol, int64(m.Verity.DataBlocks)*4096), 0o600))
	return fsImg
}
