package agent

import (
	"os"
	"reflect"
	"testing"

	devmapper "github.com/anatol/devmapper.go"
	"golang.org/x/sys/unix"
)

// TestDMVerityTable: the devmapper.go table carries every value of ours
// (its Start and Length are bytes), hash type 1, no optional parameters,
// and is loaded read-only, which dm-verity requires.
func TestDMVerityTable(t *testing.T) {
	tbl, err := newVerityTable("/dev/mapper/root-crypt", testVerity())
	if err != nil {
		t.Fatal(err)
	}
	want := devmapper.VerityTable{
		Start: 0, Length: 2048 * 4096, HashType: 1,
		DataDevice: "/dev/mapper/root-crypt", HashDevice: "/dev/mapper/root-crypt",
		DataBlockSize: 4096, HashBlockSize: 4096, NumDataBlocks: 2048, HashStartBlock: 2048,
		Algorithm: "sha256", Digest: testVerity().RootHash, Salt: testVerity().Salt,
	}
	if got := dmVerityTable(tbl); !reflect.DeepEqual(got, want) {
		t.Errorf("devmapper table\n got %+v\nwant %+v", got, want)
	}
	if verityLoadFlags != unix.DM_READONLY_FLAG {
		t.Errorf("load flags %#x, want DM_READONLY_FLAG", verityLoadFlags)
	}
}

// TestDeviceSize reads the size of a block device through its node's
// major:minor, and refuses anything that is not a block device.
func TestDeviceSize(t *testing.T) {
	if _, err := (dmVerity{}).DeviceSize("/dev/null"); err == nil {
		t.Error("DeviceSize(/dev/null) succeeded")
	}
	if _, err := (dmVerity{}).DeviceSize(t.TempDir()); err == nil {
		t.Error("DeviceSize(a directory) succeeded")
	}
	if _, err := os.Stat("/dev/loop0"); err != nil {
		t.Skip("no /dev/loop0 to measure")
	}
	got, err := (dmVerity{}).DeviceSize("/dev/loop0")
	if err != nil {
		t.Fatal(err)
	}
	want, err := (sysBlocks{}).Size("loop0")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("DeviceSize(/dev/loop0) = %d, /sys/class/block/loop0/size says %d", got, want)
	}
}
