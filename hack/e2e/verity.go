//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
)

// FileBlocks returns the file-system blocks holding path's data in the ext4
// image, in file order (`debugfs -R "blocks PATH"`).
func FileBlocks(ctx context.Context, t Tools, image, path string) ([]uint64, error) {
	out, err := runTool(ctx, "", t.Debugfs, "-R", "blocks "+path, image)
	if err != nil {
		return nil, err
	}
	var blocks []uint64
	for _, f := range strings.Fields(string(out)) {
		b, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("debugfs blocks %s: %q is not a block number", path, f)
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("debugfs found no blocks of %s in %s", path, image)
	}
	return blocks, nil
}

// hashesPerBlock is how many SHA-256 digests a 4096-byte hash block holds.
const hashesPerBlock = disk.VerityBlockSize / 32

// LeafHashOffset returns the byte offset, in the decrypted volume, of the
// hash of data block b in the dm-verity tree v describes. The kernel's
// layout (drivers/md/dm-verity-target.c, verity_ctr): the levels are stored
// from the top one down, starting at hash_offset; level i holds
// ceil(data_blocks / 128^(i+1)) blocks, and level 0 holds the data blocks'
// digests in order.
func LeafHashOffset(v disk.Verity, b uint64) uint64 {
	levels := 0
	for (v.DataBlocks-1)>>(7*levels) != 0 {
		levels++
	}
	block := v.HashOffset / disk.VerityBlockSize
	for i := levels - 1; i >= 1; i-- {
		span := uint64(1) << (7 * (i + 1))
		block += (v.DataBlocks + span - 1) / span
	}
	return (block+b/hashesPerBlock)*disk.VerityBlockSize + (b%hashesPerBlock)*32
}
