// Package initramfs builds cvminit's reproducible initramfs: it resolves the
// kernel modules the guest loads (the dependency closure read from each
// module's .modinfo section, so no modules.dep or depmod is needed), lays out
// /init, the measured config, the modules and a modules.dep for them as a
// newc cpio archive written with u-root's pkg/cpio, and compresses it with
// zstd, xz or gzip (pure-Go encoders with fixed settings).
//
// The same inputs always give the same bytes: records are sorted by path,
// inode numbers are their index, owners are root, modification times are
// zero, the gzip header carries no name or time and the zstd and xz
// encoders run on one goroutine. Nothing is read from the file system while
// the archive is written, so directories, umask and file times of the
// inputs cannot leak in. The launch digest an operator's key broker trusts
// is computed over these bytes.
//
// Hand-written here: the .modinfo reader, the closure walk and the
// modules.dep writer (kmod's depmod does this in C; no maintained Go
// library reads an unpacked tree without a modules.dep).
package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Fixed paths in the image.
const (
	// InitPath is the program the kernel runs as PID 1.
	InitPath = "/init"
	// ConfigPath is where the typed JSON config is baked in.
	ConfigPath = "/etc/cvminit/config.json"
	// DebugToolsDir holds a debug image's tools (u-root's core commands,
	// gosh among them); production images have no such directory.
	DebugToolsDir = "/bin"
)

// ErrBadSpec reports an image description that cannot be laid out: a missing
// init or config, an invalid path or two entries at the same path.
var ErrBadSpec = errors.New("invalid initramfs spec")

// File is a regular file to place in the image.
type File struct {
	Path string      // absolute, clean path in the image, e.g. /lib/modules/R/kernel/fs/ext4/ext4.ko
	Data []byte      // contents
	Mode fs.FileMode // permission bits only (no setuid, sticky or type bits); zero means 0644
}

// Spec describes an image. Build copies nothing from disk: all contents are
// given here.
type Spec struct {
	Init    []byte // the static cvminit binary, written to /init with mode 0755
	Config  []byte // typed JSON config, written to ConfigPath with mode 0644
	Modules []File // kernel modules (see Closure.Files)
	Extra   []File // further files, e.g. debug tools
	// Compression of the archive; "" means DefaultCompression.
	Compression Compression
}

// Build writes the compressed cpio archive for spec to w.
func Build(spec Spec, w io.Writer) error {
	zw, err := newCompressor(spec.Compression, w)
	if err != nil {
		return fmt.Errorf("starting %s: %w", spec.compression(), err)
	}
	if err := WriteCPIO(spec, zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing %s: %w", spec.compression(), err)
	}
	return nil
}

func (s Spec) compression() Compression {
	if s.Compression == "" {
		return DefaultCompression
	}
	return s.Compression
}
