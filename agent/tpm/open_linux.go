package tpm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// Open opens the TPM at path through go-tpm's linuxtpm. An empty path tries
// the kernel's resource manager /dev/tpmrm0, then the raw /dev/tpm0. When no
// candidate node exists the error is ErrNoTPM; a node that exists but cannot
// be opened (permissions, not a device) is a different error.
func Open(path string) (Device, error) {
	paths := []string{path}
	if path == "" {
		paths = []string{"/dev/tpmrm0", "/dev/tpm0"}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		t, err := linuxtpm.Open(p)
		if err != nil {
			return nil, fmt.Errorf("opening TPM %s: %w", p, err)
		}
		return FromTransport(t), nil
	}
	return nil, fmt.Errorf("%w: none of %v exists", ErrNoTPM, paths)
}
