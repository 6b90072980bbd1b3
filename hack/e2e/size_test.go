package e2e

import (
	"os"
	"testing"
)

// maxInitramfs is the budget for the compressed initramfs with its kernel
// modules (issue 8).
const maxInitramfs = 4 << 20

// TestInitramfsWithinBudget: the image the boots use (cvminit, its
// config and the closure of the Debian kernel modules it names, as `cvmctl
// initramfs build` makes it by default) stays within 4 MiB.
func TestInitramfsWithinBudget(t *testing.T) {
	e := requireEnv(t)
	fi, err := os.Stat(e.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxInitramfs {
		t.Errorf("initramfs %s is %d bytes, over the budget of %d", e.Initrd, fi.Size(), maxInitramfs)
	}
	t.Logf("initramfs: %d bytes, %d under the budget", fi.Size(), maxInitramfs-fi.Size())
}
