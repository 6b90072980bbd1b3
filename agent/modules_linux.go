package agent

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// kmodLoader loads module files with finit_module(2): the kernel reads the
// file, checks its signature and links it. cvmctl initramfs build ships
// plain .ko files; a compressed one is handed to the kernel to decompress
// (MODULE_INIT_COMPRESSED_FILE, kernels with CONFIG_MODULE_DECOMPRESS),
// so that no decompressor is linked into cvminit.
type kmodLoader struct{}

func (kmodLoader) Load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", finitFlags(path))
	if err != nil && !isExist(err) {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// finitFlags returns the finit_module flags for the module file at path.
func finitFlags(path string) int {
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(path, ext) {
			return unix.MODULE_INIT_COMPRESSED_FILE
		}
	}
	return 0
}
