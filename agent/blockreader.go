package agent

import (
	"fmt"
	"io"

	"github.com/cvminit/cvminit/agent/disk"
)

// blockReader reads device name through BlockDevices as an io.ReaderAt.
type blockReader struct {
	b    BlockDevices
	name string
}

func (r blockReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > disk.MaxMetadata {
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
