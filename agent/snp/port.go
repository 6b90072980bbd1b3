package snp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrPortNotFound means no virtio-serial port carries the wanted name.
var ErrPortNotFound = errors.New("virtio-serial port not found")

// portPollInterval is how often PortDialer looks again for a port that has not
// appeared yet (virtio_console probes asynchronously after module load).
const portPollInterval = 50 * time.Millisecond

// maxPortNameLen bounds how much of a sysfs name attribute is read.
const maxPortNameLen = 256

// FindPort returns the kernel name (e.g. "vport1p1") of the virtio-serial port
// called name, by reading sysRoot/class/virtio-ports/*/name. No udev is needed:
// the device node is devRoot/<kernel name>, made by devtmpfs.
func FindPort(sysRoot, name string) (string, error) {
	dir := filepath.Join(sysRoot, "class/virtio-ports")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range entries {
		got, err := readSmall(filepath.Join(dir, e.Name(), "name"))
		if err != nil {
			continue // a port without a name attribute cannot be ours
		}
		if string(bytes.TrimRight(got, "\n")) == name {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("%w: no port named %q under %s", ErrPortNotFound, name, dir)
}

func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxPortNameLen))
}

// PortDialer returns a Dial function for Emulated that waits (polling, until
// ctx ends) for the port called name to appear and opens its device node
// read-write.
func PortDialer(sysRoot, devRoot, name string) func(ctx context.Context) (io.ReadWriteCloser, error) {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		kname, err := waitPort(ctx, sysRoot, name)
		if err != nil {
			return nil, err
		}
		dev := filepath.Join(devRoot, kname)
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", dev, err)
		}
		return f, nil
	}
}

func waitPort(ctx context.Context, sysRoot, name string) (string, error) {
	t := time.NewTicker(portPollInterval)
	defer t.Stop()
	for {
		kname, err := FindPort(sysRoot, name)
		if err == nil || !errors.Is(err, ErrPortNotFound) {
			return kname, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (waited until %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}
