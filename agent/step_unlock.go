package agent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// stepUnlock reads the root disk's LUKS2 metadata region once, checks it
// (checkLUKS2), and hands that checked copy with the key to the Unlocker.
func stepUnlock(ctx context.Context, s *State) error {
	name := strings.TrimPrefix(s.RootDevice, "/dev/")
	meta, err := readMetadata(s.sys.Blocks, name, s.Config.Disk.LUKSUUID)
	if err != nil {
		return fmt.Errorf("%s: %w", s.RootDevice, err)
	}
	size, err := s.sys.Blocks.Size(name)
	if err != nil {
		return fmt.Errorf("size of %s: %w", s.RootDevice, err)
	}
	if err := meta.fits(size); err != nil {
		return fmt.Errorf("%s: %w", s.RootDevice, err)
	}
	key := s.Key()
	if key.Len() == 0 {
		return fmt.Errorf("%w: no disk key", ErrKeyInvalid)
	}
	mapped, err := s.sys.Unlocker.Unlock(ctx, UnlockRequest{
		Device: s.RootDevice, Metadata: meta.region, DeviceSize: size, Key: key, Name: s.Config.Disk.Name,
	})
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", s.RootDevice, err)
	}
	s.Mapped = mapped
	s.log.Info("root disk unlocked", "dev", s.RootDevice, "mapped", mapped)
	return nil
}

// metadata is a checked copy of a LUKS2 metadata region.
type metadata struct {
	luksLayout
	region []byte
}

// readMetadata reads the primary header to learn the segment offset, then
// the whole region [0, offset) in one read, and checks the header inside
// that copy again: only the copy that was checked is ever used.
func readMetadata(b BlockDevices, name, uuid string) (*metadata, error) {
	first, err := b.ReadHeader(name, luksBinarySize)
	if err != nil {
		return nil, fmt.Errorf("reading LUKS header: %w", err)
	}
	bin, err := parseLUKSBinary(first)
	if err != nil {
		return nil, err
	}
	hdr, err := b.ReadHeader(name, int(bin.hdrSize))
	if err != nil {
		return nil, fmt.Errorf("reading LUKS header: %w", err)
	}
	l, err := checkLUKS2(hdr, uuid)
	if err != nil {
		return nil, err
	}
	region, err := b.ReadHeader(name, int(l.offset))
	if err != nil {
		return nil, fmt.Errorf("reading LUKS metadata region: %w", err)
	}
	if uint64(len(region)) != l.offset || !bytes.Equal(region[:l.hdrSize], hdr) {
		return nil, fmt.Errorf("%w: header changed while it was read", ErrHeaderRejected)
	}
	return &metadata{luksLayout: l, region: region}, nil
}

// fits checks the data segment against the device size.
func (m *metadata) fits(devSize uint64) error {
	if devSize <= m.offset || (m.size != 0 && m.size > devSize-m.offset) {
		return fmt.Errorf("%w: device of %d bytes cannot hold a segment at %d of %d bytes",
			ErrHeaderRejected, devSize, m.offset, m.size)
	}
	return nil
}
