//go:build !linux

package tpm

import (
	"errors"
	"fmt"
	"runtime"
)

// Open is unsupported off Linux: the error wraps errors.ErrUnsupported (not
// ErrNoTPM, so a "required" policy still fails loudly).
func Open(path string) (Device, error) {
	return nil, fmt.Errorf("opening TPM %q on %s: %w", path, runtime.GOOS, errors.ErrUnsupported)
}
