//go:build unix

package seal

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// erofsPaths are the entries of makeTree whose inodes the erofs tests
// compare: the root, files, a private file, the setuid file and its hard
// link, both symlinks and the empty directory.
var erofsPaths = []string{"/", "/etc/hostname", "/etc/shadow", "/bin/tool", "/bin/tool2", "/usr/lib/tool",
	"/etc/name", "/var/empty"}

// ownTree gives some of makeTree's entries other owners, as root (a tree
// unpacked by root has them); without root it leaves the tree as it is.
func ownTree(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	must(t, os.Chown(filepath.Join(dir, "etc/hostname"), 1234, 5678))
	must(t, os.Chown(filepath.Join(dir, "etc/shadow"), 0, 42))
	must(t, os.Lchown(filepath.Join(dir, "usr/lib/tool"), 42, 43))
	must(t, os.Chown(filepath.Join(dir, "var/empty"), 7, 8))
}

// TestSealErofs seals the test tree as erofs and checks every layer with
// code that is not seal's: the guest's header guard and key check, the
// payload against the manifest, veritysetup on the decrypted volume, then
// fsck.erofs (which decompresses every file) and its extraction, compared
// with the input, and each inode's owner and full mode (setuid included)
// against the input's.
func TestSealErofs(t *testing.T) {
	needErofs(t)
	in := makeTree(t)
	ownTree(t, in)
	r, _ := sealT(t, Options{Input: in, FS: FSErofs})
	p := readPayload(t, r.Payload)
	m := readManifest(t, r.Manifest)
	meta := guardAndKey(t, r.Image, p)
	checkSizes(t, r.Image, m, meta)
	if m.FS.Type != FSErofs || p.Verity == nil || *p.Verity != m.Verity.Verity {
		t.Errorf("fs %q, payload verity %+v, manifest verity %+v", m.FS.Type, p.Verity, m.Verity.Verity)
	}
	if v := m.Tools["mkfs.erofs"]; !strings.HasPrefix(v, "mkfs.erofs ") || strings.Contains(v, "option") || m.Tools["mkfs.ext4"] != "" {
		t.Errorf("manifest tools %q: want mkfs.erofs's version and no mkfs.ext4", m.Tools)
	}

	fsImg := volumeFS(t, r.Image, p, m, meta.Offset)
	sb := readPrefix(t, fsImg, 2048)
	if magic, blocks := binary.LittleEndian.Uint32(sb[1024:]), binary.LittleEndian.Uint32(sb[1024+36:]); magic != 0xE0F5E1E2 ||
		blocks == 0 || uint64(blocks) > m.Verity.DataBlocks {
		t.Fatalf("erofs superblock: magic %#x, %d blocks for %d verity data blocks", magic, blocks, m.Verity.DataBlocks)
	}
	x := fsckExtract(t, fsImg)
	sameTree(t, in, x)
	if b := readAll(t, filepath.Join(x, "etc/hostname")); string(b) != "sealed-host\n" {
		t.Errorf("/etc/hostname reads back %q", b)
	}
	for _, path := range erofsPaths {
		got, ok := erofsInode(t, fsImg, path)
		if want := lstatInode(t, filepath.Join(in, path)); !ok || got != want {
			t.Errorf("%s: uid, gid, mode %o in the image (found %v), want %o", path, got, ok, want)
		}
	}
	if got, _ := erofsInode(t, fsImg, "/bin/tool"); got.mode != 0o104755 {
		t.Errorf("/bin/tool has mode %o, want setuid 104755", got.mode)
	}
	if got, _ := erofsInode(t, fsImg, "/etc/hostname"); os.Geteuid() == 0 && (got.uid != 1234 || got.gid != 5678) {
		t.Errorf("/etc/hostname is %d:%d, want the tree's 1234:5678", got.uid, got.gid)
	}
}

// TestSealErofsTar seals a tar archive of the test tree as erofs: the
// extraction reads back as the tree; as root the archive's ownership is in
// the image, without root every entry is root-owned (--all-root) with its
// mode kept.
func TestSealErofsTar(t *testing.T) {
	needErofs(t)
	in := makeTree(t)
	ownTree(t, in)
	r, _ := sealT(t, Options{Input: tarDir(t, in, true), FS: FSErofs})
	p := readPayload(t, r.Payload)
	m := readManifest(t, r.Manifest)
	meta := guardAndKey(t, r.Image, p)
	checkSizes(t, r.Image, m, meta)
	if m.Input.Kind != "tar" || m.FS.Type != FSErofs {
		t.Errorf("input kind %q, fs %q", m.Input.Kind, m.FS.Type)
	}
	fsImg := volumeFS(t, r.Image, p, m, meta.Offset)
	sameTree(t, in, fsckExtract(t, fsImg))
	for _, path := range erofsPaths {
		want := lstatInode(t, filepath.Join(in, path))
		if os.Geteuid() != 0 {
			want.uid, want.gid = 0, 0
		}
		if got, ok := erofsInode(t, fsImg, path); !ok || got != want {
			t.Errorf("%s: uid, gid, mode %o in the image (found %v), want %o", path, got, ok, want)
		}
	}
}

// TestErofsTarOwnership: with chown while extracting (root), the archive's
// owners reach the erofs image; without it (the ownership only recorded),
// every entry becomes 0:0 whoever owns the extracted files, and keeps its
// mode. Runs input and mkfs only.
func TestErofsTarOwnership(t *testing.T) {
	needErofs(t)
	in := makeTar(t, ownedTar)
	modes := map[string]uint32{"/srv": 0o40750, "/srv/data": 0o100640, "/srv/link": 0o120777, "/bin/su": 0o104755,
		`/odd "name" x`: 0o100600, "/bin": 0o40755}
	archive := map[string][2]uint32{"/srv": {1234, 5678}, "/srv/data": {1234, 5678}, "/srv/link": {42, 43},
		"/bin/su": {0, 0}, `/odd "name" x`: {7, 8}, "/bin": {0, 0}}
	for _, noChown := range []bool{true, false} {
		if !noChown && os.Geteuid() != 0 {
			continue // chown while extracting needs root
		}
		img := erofsImage(t, Options{Input: in, FS: FSErofs, noChown: noChown}, noChown)
		for path, mode := range modes {
			want := inodeInfo{mode: mode}
			if !noChown {
				want.uid, want.gid = archive[path][0], archive[path][1]
			}
			if got, ok := erofsInode(t, img, path); !ok || got != want {
				t.Errorf("noChown %v: %s is uid, gid, mode %o (found %v), want %o", noChown, path, got, ok, want)
			}
		}
	}
}

// erofsImage runs the input and mkfs steps of a seal. With foreign, the
// extracted files are first given to another user (as root; without root
// they are the test user's already), keeping their modes.
func erofsImage(t *testing.T, o Options, foreign bool) string {
	t.Helper()
	o.Output, o.Payload = filepath.Join(t.TempDir(), "x"), "p"
	must(t, errors.Join(o.normalize(), o.resolve(os.Geteuid() == 0)))
	work := t.TempDir()
	tr, err := prepareInput(context.Background(), &o, work, os.Geteuid() == 0)
	must(t, err)
	if foreign && os.Geteuid() == 0 {
		must(t, filepath.WalkDir(tr.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			if err := os.Lchown(p, 4321, 4321); err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			return os.Chmod(p, fi.Mode()) // chown drops setuid
		}))
	}
	if st := lstatInode(t, filepath.Join(tr.dir, "srv/data")); foreign && st.uid == 0 {
		t.Fatal("the extracted files are root's: the test would not show --all-root")
	}
	img := filepath.Join(work, "fs.img")
	_, err = makeFS(context.Background(), &o, tr, img)
	must(t, err)
	return img
}
