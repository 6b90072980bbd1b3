package seal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ext4 geometry: 256-byte inodes (timestamps past 2038), inodes for every
// entry plus a quarter and a few reserved ones, and a margin for bitmaps,
// group descriptors, extent blocks and directory growth.
const (
	inodeSize     = 256
	marginFixed   = 16 << 20
	marginPercent = 20
	sizeAlign     = 1 << 20
)

// ext4Plan is the size and inode count of an ext4 image for a tree.
type ext4Plan struct {
	bytes  int64 // file system size, a multiple of blockSize
	inodes int64 // -N
	need   int64 // what the tree needs at least: content and inode tables
}

// planExt4 sizes the image from the tree, or checks the size asked for.
func planExt4(u usage, size int64) (ext4Plan, error) {
	p := ext4Plan{inodes: u.inodes + u.inodes/4 + 64}
	p.need = roundUp(u.blocks*blockSize+p.inodes*inodeSize, blockSize)
	if size == 0 {
		p.bytes = roundUp(p.need+p.need*marginPercent/100+marginFixed, sizeAlign)
		return p, nil
	}
	p.bytes = roundUp(size, blockSize)
	if p.bytes < p.need {
		return p, fmt.Errorf("%w: %d bytes asked, the tree needs at least %d", ErrTooSmall, size, p.need)
	}
	return p, nil
}

// noSpace tells mkfs's "the tree does not fit" failures from others.
func noSpace(err error) bool {
	s := strings.ToLower(err.Error())
	return !errors.Is(err, ErrInterrupted) &&
		(strings.Contains(s, "space") || strings.Contains(s, "allocate") || strings.Contains(s, "inode"))
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// makeFS writes the file system image img from t and returns its size
// (a multiple of blockSize).
func makeFS(ctx context.Context, o *Options, t *tree, img string) (int64, error) {
	if o.FS == FSErofs {
		return makeErofs(ctx, o, t, img)
	}
	p, err := planExt4(t.use, o.Size)
	if err != nil {
		return 0, err
	}
	_, err = run(ctx, o.Tools.MkfsExt4, nil, "-q", "-F", "-t", "ext4", "-b", strconv.Itoa(blockSize),
		"-I", strconv.Itoa(inodeSize), "-N", strconv.FormatInt(p.inodes, 10), "-O", "^has_journal",
		"-E", "root_owner=0:0", "-d", t.dir, img, strconv.FormatInt(p.bytes/1024, 10)+"k")
	if err != nil {
		if o.Size != 0 && noSpace(err) {
			return 0, fmt.Errorf("%w: %d bytes asked, the tree needs about %d: %w", ErrTooSmall, p.bytes,
				p.need+p.need*marginPercent/100+marginFixed, err)
		}
		return 0, err
	}
	if len(t.owners) > 0 {
		if err := applyOwners(ctx, o.Tools.Debugfs, img, t.owners); err != nil {
			return 0, err
		}
	}
	return checkFSSize(img, p.bytes)
}

// makeErofs writes an lz4hc-compressed erofs image; without root (tar
// ownership recorded, not applied) every file becomes root-owned. It keeps
// mkfs.erofs's banner line ("mkfs.erofs 1.5") as its version in t.mkfs.
func makeErofs(ctx context.Context, o *Options, t *tree, img string) (int64, error) {
	args := []string{"-zlz4hc"}
	if len(t.owners) > 0 {
		args = append(args, "--all-root")
	}
	out, err := run(ctx, o.Tools.MkfsErofs, nil, append(args, img, t.dir)...)
	if err != nil {
		return 0, err
	}
	if line, _, _ := strings.Cut(string(out), "\n"); strings.HasPrefix(line, "mkfs.erofs ") {
		t.mkfs = strings.TrimSpace(line)
	}
	fi, err := os.Stat(img)
	if err != nil {
		return 0, err
	}
	size := roundUp(fi.Size(), blockSize)
	if err := os.Truncate(img, size); err != nil {
		return 0, fmt.Errorf("padding the erofs image to whole blocks: %w", err)
	}
	return checkFSSize(img, size)
}

// checkFSSize makes sure the image is exactly want bytes: the hash tree
// starts right after it.
func checkFSSize(img string, want int64) (int64, error) {
	fi, err := os.Stat(img)
	if err != nil {
		return 0, err
	}
	if fi.Size() != want || want%blockSize != 0 || want == 0 {
		return 0, fmt.Errorf("file system image of %d bytes, want %d", fi.Size(), want)
	}
	return want, nil
}
