package disk

import (
	"bytes"
	"fmt"
	"io"
)

// Metadata is a validated copy of a LUKS2 metadata region: bytes
// [0, Offset) of the device (both header copies and the keyslots area).
// Only this copy is ever handed to luks.go. Only CheckRegion and
// ReadMetadata make one.
type Metadata struct {
	Layout
	Region []byte
	areas  []span // keyslot areas, validated
}

// CheckRegion validates a whole metadata region: Check on the primary
// header, the region exactly Offset bytes long, and the secondary header
// equal to the primary.
func CheckRegion(region []byte, uuid string) (*Metadata, error) {
	l, areas, err := check(region, uuid)
	if err != nil {
		return nil, err
	}
	if uint64(len(region)) != l.Offset {
		return nil, rejectf("metadata region of %d bytes, want segment offset %d", len(region), l.Offset)
	}
	if err := checkSecondary(region, l.HdrSize); err != nil {
		return nil, err
	}
	return &Metadata{Layout: l, Region: region, areas: areas}, nil
}

// ReadMetadata reads the primary header from r (a device of size bytes) to
// learn the segment offset, then the whole region [0, offset) in one read,
// and checks that copy again (CheckRegion) after making sure it still holds
// the header that was checked: only the copy that was checked is ever used.
// If uuid is not empty the header's UUID must equal it.
func ReadMetadata(r io.ReaderAt, size uint64, uuid string) (*Metadata, error) {
	first, err := readAt(r, BinaryHeaderSize)
	if err != nil {
		return nil, err
	}
	bin, err := ParseBinary(first)
	if err != nil {
		return nil, err
	}
	hdr, err := readAt(r, bin.HdrSize)
	if err != nil {
		return nil, err
	}
	l, err := Check(hdr, uuid)
	if err != nil {
		return nil, err
	}
	region, err := readAt(r, l.Offset)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(region[:l.HdrSize], hdr) {
		return nil, rejectf("header changed while it was read")
	}
	m, err := CheckRegion(region, uuid)
	if err != nil {
		return nil, err
	}
	return m, m.Fits(size)
}

func readAt(r io.ReaderAt, n uint64) ([]byte, error) {
	if n > MaxMetadata {
		return nil, rejectf("metadata of %d bytes exceeds %d", n, MaxMetadata)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading %d bytes of LUKS metadata: %w", n, err)
	}
	return b, nil
}

// Fits checks the data segment against the device size: the segment must
// hold at least one sector and end inside the device.
func (l Layout) Fits(devSize uint64) error {
	if devSize < l.Offset+l.SectorSize || (l.Size != 0 && l.Size > devSize-l.Offset) {
		return rejectf("device of %d bytes cannot hold a segment at %d of %d bytes", devSize, l.Offset, l.Size)
	}
	return nil
}

// DataSize is the data segment size in bytes on a device of devSize bytes:
// Size, or for "dynamic" the rest of the device in whole sectors. Call it
// only after Fits.
func (l Layout) DataSize(devSize uint64) uint64 {
	if l.Size != 0 {
		return l.Size
	}
	n := devSize - l.Offset
	return n - n%l.SectorSize
}
