package agent

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFinitFlags: the kernel is asked to decompress exactly the compressed
// module files (finit_module(2) MODULE_INIT_COMPRESSED_FILE).
func TestFinitFlags(t *testing.T) {
	for path, want := range map[string]int{
		"/lib/modules/R/kernel/fs/ext4/ext4.ko":     0,
		"/lib/modules/R/kernel/fs/ext4/ext4.ko.xz":  unix.MODULE_INIT_COMPRESSED_FILE,
		"/lib/modules/R/kernel/fs/ext4/ext4.ko.zst": unix.MODULE_INIT_COMPRESSED_FILE,
		"/lib/modules/R/kernel/fs/ext4/ext4.ko.gz":  unix.MODULE_INIT_COMPRESSED_FILE,
		"/lib/modules/R/kernel/xz.ko":               0,
	} {
		if got := finitFlags(path); got != want {
			t.Errorf("finitFlags(%s) = %d, want %d", path, got, want)
		}
	}
}
