package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/disk"
)

// Polling interval for the root disk: first and maximum.
const (
	diskPollFirst = 50 * time.Millisecond
	diskPollMax   = 500 * time.Millisecond
)

// stepDisk waits for the disk driver loading in the background and takes
// the disk the key step's scout found (startScout); if it found none, it
// waits until exactly one block device carries the configured LUKS UUID.
// There is no udev in the initramfs: it scans /sys/class/block and reads
// each device's first 4 KiB, polling with backoff until the deadline.
func stepDisk(ctx context.Context, s *State) error {
	if err := s.awaitModules(ctx, stageDisk); err != nil {
		return err
	}
	want := s.Config.Disk.LUKSUUID
	if r, ok := await(ctx, &s.scout); ok {
		switch {
		case r.findErr == nil:
			s.RootDevice, s.rootRead = "/dev/"+r.read.name, &r.read
			s.log.Info("root disk found", "dev", s.RootDevice, "luks_uuid", want)
			return nil
		case errors.Is(r.findErr, ErrRootAmbiguous):
			return r.findErr
		}
	}
	t0 := s.sys.Clock.Now()
	pause := diskPollFirst
	for {
		name, err := findRoot(s.sys.Blocks, want)
		if err == nil {
			s.RootDevice = "/dev/" + name
			s.log.Info("root disk found", "dev", s.RootDevice, "luks_uuid", want)
			return nil
		}
		if errors.Is(err, ErrRootAmbiguous) {
			return err
		}
		if serr := s.sys.Clock.Sleep(ctx, pause); serr != nil {
			waited := s.sys.Clock.Now().Sub(t0).Round(time.Millisecond)
			return fmt.Errorf("no block device carries LUKS UUID %s after %s: %w (%w)", want, waited, err, serr)
		}
		pause = min(2*pause, diskPollMax)
	}
}

// findRoot returns the one device whose LUKS2 header has uuid, ErrRootNotFound
// when none has, and ErrRootAmbiguous when several have.
func findRoot(b BlockDevices, uuid string) (string, error) {
	names, err := b.List()
	if err != nil {
		return "", fmt.Errorf("%w: listing block devices: %w", ErrRootNotFound, err)
	}
	var found []string
	for _, n := range names {
		if skipDevice(n) {
			continue
		}
		hdr, err := b.ReadHeader(n, disk.BinaryHeaderSize)
		if err != nil {
			continue // unreadable (empty drive, vanished): not ours
		}
		if h, err := disk.ParseBinary(hdr); err == nil && strings.EqualFold(h.UUID, uuid) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return "", ErrRootNotFound
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w: %s", ErrRootAmbiguous, strings.Join(found, ", "))
}

// skipDevice leaves out devices that cannot be the sealed disk: our own
// device-mapper targets, loop, RAM and optical devices.
func skipDevice(name string) bool {
	for _, p := range []string{"dm-", "loop", "ram", "sr", "zram"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
