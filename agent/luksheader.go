package agent

import (
	"fmt"
	"io"

	"github.com/cvminit/cvminit/agent/disk"
)

// The LUKS2 header guard lives in agent/disk; these names keep the disk
// scan (step_disk.go) and the block reader on it.
const (
	luksBinarySize = disk.BinaryHeaderSize
	maxMetadata    = disk.MaxMetadata
)

// luksBinary is what the disk scan needs from the binary header.
type luksBinary struct {
	hdrSize uint64
	uuid    string
}

// parseLUKSBinary reads a LUKS2 binary header (disk.ParseBinary).
func parseLUKSBinary(b []byte) (luksBinary, error) {
	h, err := disk.ParseBinary(b)
	return luksBinary{hdrSize: h.HdrSize, uuid: h.UUID}, err
}

// luksLayout is the validated layout with the names the tests use.
type luksLayout struct{ offset uint64 }

// checkLUKS2 runs the guard on a header (disk.Check).
func checkLUKS2(hdr []byte, uuid string) (luksLayout, error) {
	l, err := disk.Check(hdr, uuid)
	return luksLayout{offset: l.Offset}, err
}

// blockReader reads device name through BlockDevices as an io.ReaderAt.
type blockReader struct {
	b    BlockDevices
	name string
}

func (r blockReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > maxMetadata {
		return 0, fmt.Errorf("reading %s at %d: out of range", r.name, off)
	}
	b, err := r.b.ReadHeader(r.name, int(off)+len(p))
	if err != nil {
		return 0, err
	}
	if n := copy(p, b[off:]); n < len(p) {
		return n, io.ErrUnexpectedEOF
	}
	return len(p), nil
}
