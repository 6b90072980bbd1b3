package agent

import (
	"context"
	"fmt"

	devmapper "github.com/anatol/devmapper.go"
	"golang.org/x/sys/unix"
)

// dmVerity creates dm-verity devices with devmapper.go and makes their
// /dev/mapper node, as luksUnlocker does for dm-crypt (there is no udev).
type dmVerity struct{}

// verityLoadFlags are the flags the table is loaded with: dm-verity refuses
// a table that may be opened for writing ("Device must be readonly").
const verityLoadFlags = devmapper.ReadOnlyFlag

// DeviceSize reads /sys/dev/block/<major>:<minor>/size for the block
// device node at path.
func (dmVerity) DeviceSize(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("%s is not a block device", path)
	}
	return readSectors(fmt.Sprintf("/sys/dev/block/%d:%d/size", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
}

// Create loads t as the one target of a new read-only device name and
// returns /dev/mapper/<name>.
func (dmVerity) Create(ctx context.Context, name string, t VerityTable) (string, error) {
	if err := devmapper.CreateAndLoad(name, verityUUID(name), verityLoadFlags, dmVerityTable(t)); err != nil {
		return "", fmt.Errorf("dm-verity table for %s: %w", name, err)
	}
	return mapperNode(ctx, name)
}

// verityUUID is the device-mapper UUID of the verity device name.
func verityUUID(name string) string { return "CVMINIT-VERITY-" + name }

// dmVerityTable is t in devmapper.go's terms: the target covers the whole
// new device (Start and Length in bytes), with no optional parameters.
func dmVerityTable(t VerityTable) devmapper.VerityTable {
	return devmapper.VerityTable{
		Start: 0, Length: t.Length(), HashType: uint64(t.Version),
		DataDevice: t.DataDevice, HashDevice: t.HashDevice,
		DataBlockSize: uint64(t.DataBlockSize), HashBlockSize: uint64(t.HashBlockSize),
		NumDataBlocks: t.DataBlocks, HashStartBlock: t.HashStartBlock,
		Algorithm: t.Algorithm, Digest: t.RootHash, Salt: t.Salt,
	}
}
