package agent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
)

// verityHashType is dm-verity's on-disk format version: 1, the format
// veritysetup writes by default (salt before the block, digests padded to
// a power of two).
const verityHashType = 1

// verityDigestSize is the size of a SHA-256 digest, the only algorithm the
// payload allow-list (disk.Verity.Check) accepts.
const verityDigestSize = 32

// VerityTable is one dm-verity target over a whole device, in the terms of
// the kernel's table (Documentation/admin-guide/device-mapper/verity.rst):
//
//	<version> <data dev> <hash dev> <data block size> <hash block size>
//	<#data blocks> <hash start block> <algorithm> <root digest> <salt>
//
// It carries no optional parameters: a block that fails verification is an
// I/O error for whoever reads it (the kernel's default), because
//   - restart_on_corruption and panic_on_corruption would turn one bad
//     block, which the host can write at will, into a reboot or a panic
//     after cvminit's failure policy is gone, where an I/O error lets the
//     guest OS report the file and keep the rest of the system running;
//   - ignore_corruption and check_at_most_once weaken the check itself
//     (the host can change a block after its first read);
//   - ignore_zero_blocks only saves reads of blocks hashed as zeroes, and
//     use_fec_from_device and root_hash_sig_key_desc need data the payload
//     does not carry (the root hash is authenticated by the attested key
//     release instead of a keyring signature).
//
// The table holds no secret.
type VerityTable struct {
	// Version is the hash type, 1.
	Version int
	// DataDevice and HashDevice are the devices holding the file system
	// and the hash tree: both the dm-crypt device.
	DataDevice, HashDevice string
	// DataBlockSize and HashBlockSize are in bytes (4096).
	DataBlockSize, HashBlockSize uint32
	// DataBlocks is the number of data blocks the target maps.
	DataBlocks uint64
	// HashStartBlock is the offset of the tree on HashDevice, in hash blocks.
	HashStartBlock uint64
	// Algorithm is the hash ("sha256").
	Algorithm string
	// RootHash is the root digest in lower-case hex.
	RootHash string
	// Salt is the salt in lower-case hex, "-" for none.
	Salt string
}

// String renders the target's parameters as the kernel parses them.
func (t VerityTable) String() string {
	return strings.Join([]string{
		strconv.Itoa(t.Version), t.DataDevice, t.HashDevice,
		strconv.FormatUint(uint64(t.DataBlockSize), 10), strconv.FormatUint(uint64(t.HashBlockSize), 10),
		strconv.FormatUint(t.DataBlocks, 10), strconv.FormatUint(t.HashStartBlock, 10),
		t.Algorithm, t.RootHash, t.Salt,
	}, " ")
}

// Length is the size in bytes of the device the target makes: the data
// blocks only.
func (t VerityTable) Length() uint64 { return t.DataBlocks * uint64(t.DataBlockSize) }

// newVerityTable builds the table for the tree v describes inside dev (the
// data followed by the tree on the one device), only from v's checked
// values.
func newVerityTable(dev string, v *disk.Verity) (VerityTable, error) {
	if err := v.Check(); err != nil {
		return VerityTable{}, err
	}
	salt := v.Salt
	if salt == "" {
		salt = "-" // the kernel's spelling of "no salt"
	}
	return VerityTable{
		Version: verityHashType, DataDevice: dev, HashDevice: dev,
		DataBlockSize: v.DataBlockSize, HashBlockSize: v.HashBlockSize, DataBlocks: v.DataBlocks,
		HashStartBlock: v.HashOffset / uint64(v.HashBlockSize),
		Algorithm:      v.Algorithm, RootHash: v.RootHash, Salt: salt,
	}, nil
}

// verityTreeBlocks is the number of hash blocks of the tree over
// dataBlocks data blocks when a hash block holds perBlock digests: each
// level has one digest per block of the level below, up to a level of one
// block (none at all for a single data block, whose digest is the root).
// This is the kernel's and veritysetup's hash_levels computation.
func verityTreeBlocks(dataBlocks, perBlock uint64) uint64 {
	var n uint64
	for c := dataBlocks; c > 1; {
		c = (c + perBlock - 1) / perBlock
		n += c
	}
	return n
}

// verityNeed is how many bytes the volume must hold for the data and the
// tree v describes.
func verityNeed(v *disk.Verity) uint64 {
	tree := verityTreeBlocks(v.DataBlocks, uint64(v.HashBlockSize)/verityDigestSize)
	return v.HashOffset + tree*uint64(v.HashBlockSize)
}

// checkVolumeSize refuses a volume of size bytes too small for v.
func checkVolumeSize(dev string, size uint64, v *disk.Verity) error {
	if need := verityNeed(v); size < need {
		return fmt.Errorf("%w: %s holds %d bytes, but %d data blocks and their hash tree need %d",
			ErrIntegrity, dev, size, v.DataBlocks, need)
	}
	return nil
}
