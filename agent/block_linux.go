package agent

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
)

// sysBlocks finds block devices in /sys/class/block and reads them through
// their devtmpfs nodes in /dev.
type sysBlocks struct{}

func (sysBlocks) List() ([]string, error) {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// checkName refuses anything that is not a plain kernel device name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid block device name %q", name)
	}
	return nil
}

func (sysBlocks) ReadHeader(name string, n int) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if n < 0 || n > disk.MaxMetadata {
		return nil, fmt.Errorf("reading %d bytes of %s: out of range", n, name)
	}
	f, err := os.Open(filepath.Join("/dev", name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return b, nil
}

// Size reads /sys/class/block/<name>/size, which counts 512-byte sectors
// whatever the device's logical block size.
func (sysBlocks) Size(name string) (uint64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	return readSectors(filepath.Join("/sys/class/block", name, "size"))
}

// readSectors reads a sysfs size file, which counts 512-byte sectors
// whatever the device's logical block size, and returns bytes.
func readSectors(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	sectors, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || sectors > 1<<54 {
		return 0, fmt.Errorf("%s: %q is not a size", p, b)
	}
	return sectors * 512, nil
}
