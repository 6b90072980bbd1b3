package seal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// InputInfo summarizes the input tree in the manifest. ListingSHA256 is the
// SHA-256 of one line per entry, in lexical path order:
//
//	<type> <mode octal> <uid>:<gid> <size> <quoted path>[ -> <quoted target>|<major>:<minor>]
//
// type f, d, l, c, b, p or s; mode the permission, setuid, setgid and sticky
// bits; size that of regular files, else 0; the root "/" is 0:0 (mkfs.ext4
// root_owner; an erofs image keeps a directory input's own owner there).
// Timestamps are not in it. A directory and a tar archive of the same tree
// give the same listing.
type InputInfo struct {
	Kind          string `json:"kind"`    // "directory" or "tar"
	Entries       int    `json:"entries"` // below the root, as are the counts by type
	Files         int    `json:"files"`
	Dirs          int    `json:"dirs"`
	Symlinks      int    `json:"symlinks"`
	Other         int    `json:"other"`
	ContentBytes  int64  `json:"content_bytes"` // regular files, hard links once
	ListingSHA256 string `json:"listing_sha256"`
}

// tree is the prepared input.
type tree struct {
	dir    string           // directory mkfs reads
	owners map[string]owner // tar ownership not applied on disk, by "/path"
	info   InputInfo
	use    usage
	mkfs   string // what mkfs.erofs names itself as (its first line), for the manifest
}

type owner struct{ uid, gid int }

// fileID is the unix file information of an entry (statOf).
type fileID struct {
	uid, gid        int
	dev, ino, nlink uint64
	major, minor    uint32
}

// usage is what the tree needs in a file system, in 4096-byte blocks.
type usage struct {
	blocks int64 // file content, directories, long symlinks
	inodes int64 // entries, root included
}

// prepareInput makes the directory mkfs reads: the input directory itself
// or the tar archive extracted into work.
func prepareInput(ctx context.Context, o *Options, work string, asRoot bool) (*tree, error) {
	fi, err := os.Stat(o.Input)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	t := &tree{dir: o.Input, info: InputInfo{Kind: "directory"}}
	switch {
	case fi.IsDir():
	case fi.Mode().IsRegular():
		t.dir, t.info.Kind = filepath.Join(work, "tree"), "tar"
		if t.owners, err = extract(ctx, o.Input, t.dir, asRoot, asRoot && !o.noChown); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: %s is neither a directory nor a tar archive", ErrInput, o.Input)
	}
	return t, t.scan(ctx)
}

// scan walks the tree in lexical order, counting entries and what they
// need, and hashing the listing.
func (t *tree) scan(ctx context.Context) error {
	h := sha256.New()
	seen := map[[2]uint64]bool{} // hard-linked inodes already counted
	var nameBytes int64
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
		rel, _ := filepath.Rel(t.dir, p)
		name := "/" + filepath.ToSlash(rel)
		if rel == "." {
			name = "/"
		} else {
			nameBytes += int64(len(d.Name())+8+3) &^ 3
		}
		return t.entry(h, p, name, seen)
	})
	if err != nil {
		return fmt.Errorf("%w: reading %s: %w", ErrInput, t.dir, err)
	}
	t.info.Dirs-- // the root, not an entry
	t.use.blocks += (nameBytes + blockSize - 1) / blockSize
	t.info.ListingSHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

const blockSize = 4096

// entry counts and lists one entry.
func (t *tree) entry(h hash.Hash, p, name string, seen map[[2]uint64]bool) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st, ok := statOf(fi)
	if !ok {
		return fmt.Errorf("%s: no unix file information", p)
	}
	o := owner{st.uid, st.gid}
	if w, ok := t.owners[name]; ok {
		o = w
	}
	if name == "/" {
		o = owner{}
	} else {
		t.info.Entries++
	}
	t.use.inodes++
	typ, size, extra := t.kind(fi, st, p, seen)
	mode := fi.Mode()&fs.ModePerm | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	fmt.Fprintf(h, "%c %o %d:%d %d %s%s\n", typ, unixMode(mode), o.uid, o.gid, size, strconv.Quote(name), extra)
	return nil
}

// kind classifies fi, counts it and returns its listing type, size and
// suffix.
func (t *tree) kind(fi fs.FileInfo, st fileID, p string, seen map[[2]uint64]bool) (byte, int64, string) {
	switch m := fi.Mode(); {
	case m.IsRegular():
		t.info.Files++
		key := [2]uint64{st.dev, st.ino}
		if st.nlink < 2 || !seen[key] {
			seen[key] = true
			t.info.ContentBytes += fi.Size()
			t.use.blocks += (fi.Size() + blockSize - 1) / blockSize
		}
		return 'f', fi.Size(), ""
	case m.IsDir():
		t.info.Dirs++
		t.use.blocks++
		return 'd', 0, ""
	case m&fs.ModeSymlink != 0:
		t.info.Symlinks++
		target, _ := os.Readlink(p)
		if len(target) >= 60 { // longer targets do not fit in the inode
			t.use.blocks++
		}
		return 'l', 0, " -> " + strconv.Quote(target)
	}
	t.info.Other++
	dev := fmt.Sprintf(" %d:%d", st.major, st.minor)
	switch m := fi.Mode(); {
	case m&fs.ModeCharDevice != 0:
		return 'c', 0, dev
	case m&fs.ModeDevice != 0:
		return 'b', 0, dev
	case m&fs.ModeNamedPipe != 0:
		return 'p', 0, ""
	}
	return 's', 0, ""
}

// unixMode turns permission and special bits into their octal unix form.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
