package seal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
)

// verityHashType is dm-verity's hash format version (1: the one the kernel
// documents and veritysetup uses by default).
const verityHashType = "1"

// verityArgs are the parameters format and verify share; the volume's first
// v.DataBlocks blocks are the data, the tree starts at v.HashOffset.
func verityArgs(v *disk.Verity) []string {
	return []string{"--no-superblock", "--format=" + verityHashType, "--hash=" + v.Algorithm,
		"--data-block-size=" + strconv.Itoa(int(v.DataBlockSize)),
		"--hash-block-size=" + strconv.Itoa(int(v.HashBlockSize)),
		"--data-blocks=" + strconv.FormatUint(v.DataBlocks, 10),
		"--hash-offset=" + strconv.FormatUint(v.HashOffset, 10), "--salt=" + v.Salt}
}

// makeVerity appends the hash tree of the file system (the first fsBytes of
// vol) to vol with a fresh 32-byte salt and returns its description and the
// tree's size in bytes.
func makeVerity(ctx context.Context, veritysetup, vol string, fsBytes int64) (*disk.Verity, int64, error) {
	var salt [32]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, 0, err
	}
	v := &disk.Verity{Salt: hex.EncodeToString(salt[:]), Algorithm: disk.VerityAlgorithm,
		DataBlockSize: disk.VerityBlockSize, HashBlockSize: disk.VerityBlockSize,
		DataBlocks: uint64(fsBytes) / disk.VerityBlockSize, HashOffset: uint64(fsBytes)}
	rootFile := vol + ".roothash"
	args := append([]string{"format"}, verityArgs(v)...)
	if _, err := run(ctx, veritysetup, func(string) {}, append(args, "--root-hash-file="+rootFile, vol, vol)...); err != nil {
		return nil, 0, fmt.Errorf("making the dm-verity hash tree: %w", err)
	}
	root, err := os.ReadFile(rootFile)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the verity root hash: %w", err)
	}
	_ = os.Remove(rootFile)
	v.RootHash = strings.ToLower(strings.TrimSpace(string(root)))
	if err := v.Check(); err != nil {
		return nil, 0, fmt.Errorf("%w: veritysetup made a description the guest refuses: %w", ErrSelfCheck, err)
	}
	fi, err := os.Stat(vol)
	if err != nil {
		return nil, 0, err
	}
	tree := fi.Size() - fsBytes
	if tree <= 0 || tree%blockSize != 0 {
		return nil, 0, fmt.Errorf("%w: verity hash tree of %d bytes", ErrSelfCheck, tree)
	}
	return v, tree, nil
}

// verifyVerity checks the whole volume against v with `veritysetup verify`,
// the user-space twin of what dm-verity checks block by block in the guest.
func verifyVerity(ctx context.Context, veritysetup, vol string, v *disk.Verity) error {
	args := append(append([]string{"verify"}, verityArgs(v)...), vol, vol, v.RootHash)
	if _, err := run(ctx, veritysetup, nil, args...); err != nil {
		return fmt.Errorf("%w: veritysetup verify: %w", ErrSelfCheck, err)
	}
	return nil
}
