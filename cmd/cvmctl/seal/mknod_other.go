//go:build !linux

package seal

import (
	"errors"
	"os"
)

// mknod is not supported here: device nodes and FIFOs are refused.
func mknod(*os.Root, string, byte, int64, int64) error {
	return errors.New("device nodes and FIFOs cannot be extracted on this system")
}
