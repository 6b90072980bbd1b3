package seal

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// extractor unpacks one tar archive through an os.Root, so no entry, however
// named or linked, can be written outside the tree.
type extractor struct {
	root   *os.Root
	asRoot bool             // may create device nodes
	chown  bool             // apply ownership now (else record it)
	owners map[string]owner // recorded ownership, by "/path"
	dirs   []dirMeta        // applied last, deepest first
	n      int              // entries
}

type dirMeta struct {
	name string
	perm fs.FileMode
	mod  time.Time
}

// extract unpacks the tar archive src (plain or gzip) into dir, which it
// creates. With chown it applies the archive's ownership; otherwise it
// returns it by "/path", to be applied to the image.
func extract(ctx context.Context, src, dir string, asRoot, chown bool) (map[string]owner, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer f.Close()
	r, err := archiveReader(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInput, src, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	x := &extractor{root: root, asRoot: asRoot, chown: chown, owners: map[string]owner{}}
	if err := x.all(ctx, tar.NewReader(r), src); err != nil {
		return nil, err
	}
	if err := x.implicitDirs(); err != nil {
		return nil, err
	}
	return x.owners, x.finishDirs()
}

// implicitDirs gives the directories the archive did not list (made for
// their entries, and the root) what root would: 0755, owned by 0:0 (the
// root's owner comes from mkfs).
func (x *extractor) implicitDirs() error {
	listed := map[string]bool{}
	for _, d := range x.dirs {
		listed[d.name] = true
	}
	return fs.WalkDir(x.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || listed[p] {
			return err
		}
		if err := x.root.Chmod(p, 0o755); err != nil || p == "." {
			return err
		}
		if !x.chown {
			x.owners["/"+p] = owner{}
			return nil
		}
		return x.root.Lchown(p, 0, 0)
	})
}

func (x *extractor) all(ctx context.Context, tr *tar.Reader, src string) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) && x.n > 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s is not a tar archive (or is empty or damaged): %v", ErrInput, src, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader { // pax defaults (git archive's comment): not an entry
			continue
		}
		x.n++
		if err := x.add(h, tr); err != nil {
			return fmt.Errorf("%s: entry %q: %w", src, h.Name, err)
		}
	}
}

// archiveReader returns f's content, gunzipped if it is gzip; other
// compressions are refused by name.
func archiveReader(f *os.File) (io.Reader, error) {
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errors.New("xz-compressed: decompress it first (plain or gzip tar only)")
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errors.New("zstd-compressed: decompress it first (plain or gzip tar only)")
	case bytes.HasPrefix(magic, []byte("BZh")):
		return nil, errors.New("bzip2-compressed: decompress it first (plain or gzip tar only)")
	}
	return br, nil
}

// badEntry refuses an entry as bad input.
func badEntry(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInput}, a...)...)
}

// cleanName refuses absolute names, ".." and control characters, and
// cleans the rest ("./a/" -> "a", "./" -> ".").
func cleanName(n string) (string, error) {
	switch {
	case n == "" || strings.HasPrefix(n, "/"):
		return "", badEntry("absolute or empty name")
	case strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", badEntry("control character in name")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", badEntry(`".." in name`)
		}
	}
	return path.Clean(n), nil
}

// add creates one entry, then applies its ownership, mode and time.
func (x *extractor) add(h *tar.Header, r io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	perm := h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if h.Typeflag == tar.TypeDir {
		return x.dir(name, h, perm)
	}
	if name == "." {
		return badEntry("the root is not a directory")
	}
	if err := x.clear(name); err != nil {
		return err
	}
	if err := x.create(name, h, r); err != nil {
		return err
	}
	if err := x.own(name, h); err != nil || h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
		return err
	}
	if err := x.root.Chmod(name, perm); err != nil {
		return err
	}
	return x.root.Chtimes(name, h.ModTime, h.ModTime)
}

// clear makes room for a non-directory entry: its parents exist, and an
// earlier entry of the same name (tar's "last one wins") is removed, unless
// it is a directory.
func (x *extractor) clear(name string) error {
	if err := x.root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return badEntry("replaces a directory")
	}
	return x.root.Remove(name)
}

func (x *extractor) create(name string, h *tar.Header, r io.Reader) error {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar expands sparse files
		return x.file(name, r)
	case tar.TypeSymlink:
		return x.root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		return x.root.Link(target, name)
	case tar.TypeChar, tar.TypeBlock:
		if !x.asRoot {
			return badEntry("device node: extracting one needs root")
		}
		return mknod(x.root, name, h.Typeflag, h.Devmajor, h.Devminor)
	case tar.TypeFifo:
		return mknod(x.root, name, h.Typeflag, 0, 0)
	}
	return badEntry("unsupported entry type %q", h.Typeflag)
}

func (x *extractor) file(name string, r io.Reader) error {
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dir creates a directory (0700 until finishDirs) and remembers its mode.
func (x *extractor) dir(name string, h *tar.Header, perm fs.FileMode) error {
	if name != "." {
		if err := x.root.MkdirAll(name, 0o700); err != nil {
			return err
		}
		if err := x.own(name, h); err != nil {
			return err
		}
	}
	x.dirs = append(x.dirs, dirMeta{name, perm, h.ModTime})
	return nil
}

// own applies or records the entry's ownership (the root is always 0:0).
// A hard link shares its target's inode, which the target's entry owned
// already; with chown it is left alone, as chown would clear the target's
// setuid and setgid bits.
func (x *extractor) own(name string, h *tar.Header) error {
	switch {
	case !x.chown:
		x.owners["/"+name] = owner{h.Uid, h.Gid}
		return nil
	case h.Typeflag == tar.TypeLink:
		return nil
	}
	return x.root.Lchown(name, h.Uid, h.Gid)
}

// finishDirs applies directory modes and times, deepest first, once
// nothing more is written into them.
func (x *extractor) finishDirs() error {
	depth := func(d dirMeta) int {
		if d.name == "." {
			return 0
		}
		return 1 + strings.Count(d.name, "/")
	}
	slices.SortStableFunc(x.dirs, func(a, b dirMeta) int { return depth(b) - depth(a) })
	for _, d := range x.dirs {
		if err := x.root.Chmod(d.name, d.perm); err != nil {
			return err
		}
		if err := x.root.Chtimes(d.name, d.mod, d.mod); err != nil {
			return err
		}
	}
	return nil
}
