//go:build unix

package seal

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tarDir writes dir as a tar archive (gzip if gz), ownership and hard links
// included, with archive/tar's writer: no seal code.
func tarDir(t *testing.T, dir string, gz bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if gz {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	tw := tar.NewWriter(w)
	defer tw.Close()
	seen := map[uint64]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link, _ := os.Readlink(p)
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = "./" + filepath.ToSlash(rel)
		st := fi.Sys().(*syscall.Stat_t)
		h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		if first, ok := seen[st.Ino]; ok && fi.Mode().IsRegular() {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else if fi.Mode().IsRegular() {
			seen[st.Ino] = h.Name
		}
		if err := tw.WriteHeader(h); err != nil || h.Typeflag != tar.TypeReg {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTarEqualsDir: a directory and its tar archives (archive/tar, gzip,
// GNU tar) give the same listing and the same image geometry.
func TestTarEqualsDir(t *testing.T) {
	needTools(t)
	dir := makeTree(t)
	rd, _ := sealT(t, Options{Input: dir})
	archives := map[string]string{"tar": tarDir(t, dir, false), "tar.gz": tarDir(t, dir, true)}
	if gnu, err := exec.LookPath("tar"); err == nil { // the operator's usual tool, GNU format
		archives["gnu tar"] = filepath.Join(t.TempDir(), "gnu.tar")
		cmd(t, gnu, "--numeric-owner", "-C", dir, "-cf", archives["gnu tar"], ".")
	}
	for kind, archive := range archives {
		rt, _ := sealT(t, Options{Input: archive})
		md, mt := rd.Info, rt.Info
		if md.Input.Kind != "directory" || mt.Input.Kind != "tar" {
			t.Errorf("kinds %q %q", md.Input.Kind, mt.Input.Kind)
		}
		md.Input.Kind, mt.Input.Kind = "", ""
		if md.Input != mt.Input || md.Sizes != mt.Sizes {
			t.Errorf("%s differs from the directory:\n%+v %+v\n%+v %+v", kind, mt.Input, mt.Sizes, md.Input, md.Sizes)
		}
	}
	if rd.Info.Input.Files != 4 || rd.Info.Input.Symlinks != 2 || rd.Info.Input.Dirs != 6 ||
		rd.Info.Input.Entries != 12 {
		t.Errorf("counts %+v", rd.Info.Input)
	}
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
}

func makeTar(t *testing.T, entries []tarEntry) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "in.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeXGlobalHeader:
			h = &tar.Header{Typeflag: e.typ, PAXRecords: map[string]string{"comment": "0123abcd"}}
		case tar.TypeReg:
		default:
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); e.typ == tar.TypeReg && err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return out
}

var ownedTar = []tarEntry{
	{name: "pax_global_header", typ: tar.TypeXGlobalHeader}, // as git archive writes: not an entry
	{name: "./", typ: tar.TypeDir, mode: 0o755, uid: 1000, gid: 1000},
	{name: "srv/", typ: tar.TypeDir, mode: 0o750, uid: 1234, gid: 5678},
	{name: "srv/data", typ: tar.TypeReg, mode: 0o640, uid: 1234, gid: 5678, body: "data\n"},
	{name: "srv/link", typ: tar.TypeSymlink, uid: 42, gid: 43, link: "data"},
	{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, uid: 0, gid: 0, body: "su"},
	{name: `odd "name" x`, typ: tar.TypeReg, mode: 0o600, uid: 7, gid: 8, body: "q"},
}

// TestTarOwnership: the archive's ownership and modes reach the ext4
// image, with root (chown while extracting) and without (debugfs after
// mkfs); the root directory is 0:0 either way, and a pax global header is
// not taken for a file.
func TestTarOwnership(t *testing.T) {
	needTools(t)
	in := makeTar(t, ownedTar)
	defer syscall.Umask(syscall.Umask(0o077)) // directories the archive does not list still get 0755
	want := map[string][3]string{"/": {"0", "0", "40755"}, "/srv": {"1234", "5678", "40750"},
		"/srv/data": {"1234", "5678", "100640"}, "/srv/link": {"42", "43", "120777"}, "/bin/su": {"0", "0", "104755"},
		"/bin":          {"0", "0", "40755"}, // not in the archive
		`/odd "name" x`: {"7", "8", "100600"}}
	for _, noChown := range []bool{true, false} {
		if !noChown && os.Geteuid() != 0 {
			continue // chown while extracting needs root
		}
		img := fsImage(t, Options{Input: in, noChown: noChown})
		if got := inodeOwner(t, img, "/pax_global_header"); got != [3]string{} {
			t.Errorf("noChown %v: the global header became a file", noChown)
		}
		for path, w := range want {
			if got := inodeOwner(t, img, path); got != w {
				t.Errorf("noChown %v: %s is uid, gid, mode %v, want %v", noChown, path, got, w)
			}
		}
	}
}

// fsImage runs the first two steps only: input and mkfs.
func fsImage(t *testing.T, o Options) string {
	t.Helper()
	o.Output, o.Payload = filepath.Join(t.TempDir(), "x"), "p"
	if err := errors.Join(o.normalize(), o.resolve(os.Geteuid() == 0)); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	tr, err := prepareInput(context.Background(), &o, work, os.Geteuid() == 0)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "fs.img")
	if _, err := makeFS(context.Background(), &o, tr, img); err != nil {
		t.Fatal(err)
	}
	return img
}

// inodeOwner reads uid, gid and octal mode of path in an ext4 image with
// debugfs (not following a final symlink); all "" if path is not there.
func inodeOwner(t *testing.T, img, path string) [3]string {
	t.Helper()
	q := `"` + strings.ReplaceAll(path, `"`, `""`) + `"`
	out := cmd(t, toolPath(t, toolDebugfs), "-R", "stat "+q, img)
	m := regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`).FindSubmatch(out)
	mode := regexp.MustCompile(`Type: (\w+)\s+Mode:\s+(\d+)`).FindSubmatch(out)
	if m == nil || mode == nil {
		return [3]string{} // not in the image
	}
	typ := map[string]uint64{"directory": 0o40000, "regular": 0o100000, "symlink": 0o120000}[string(mode[1])]
	perm, err := strconv.ParseUint(string(mode[2]), 8, 32)
	if err != nil {
		t.Fatal(err)
	}
	return [3]string{string(m[1]), string(m[2]), strconv.FormatUint(typ|perm, 8)}
}

// TestExtractRecordsOwners: without chown, every entry's ownership is
// recorded for the image, and unlisted parent directories are 0:0.
func TestExtractRecordsOwners(t *testing.T) {
	owners, err := extract(context.Background(), makeTar(t, ownedTar), filepath.Join(t.TempDir(), "tree"), false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]owner{"/srv": {1234, 5678}, "/srv/data": {1234, 5678}, "/srv/link": {42, 43},
		"/bin/su": {0, 0}, `/odd "name" x`: {7, 8}, "/bin": {0, 0}}
	if !maps.Equal(owners, want) {
		t.Errorf("owners %v, want %v", owners, want)
	}
}

// TestExtractRootMode: an archive that does not list the root or a parent
// directory still gives them 0755, whatever the umask.
func TestExtractRootMode(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o077))
	tree := filepath.Join(t.TempDir(), "tree")
	_, err := extract(context.Background(), makeTar(t, []tarEntry{{name: "a/f", typ: tar.TypeReg, mode: 0o644, body: "x"}}),
		tree, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{tree, filepath.Join(tree, "a")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v (%v), want 0755", p, fi.Mode(), err)
		}
	}
}
