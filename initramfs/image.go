// Package initramfs builds cvminit's reproducible initramfs: it resolves the
// kernel modules the guest loads (the dependency closure read from each
// module's .modinfo section, so no modules.dep or depmod is needed), lays out
// /init, the measured config and the modules as a newc cpio archive written
// with u-root's pkg/cpio, and compresses it with gzip.
//
// The same inputs always give the same bytes: records are sorted by path,
// inode numbers are their index, owners are root, modification times are
// zero and the gzip header carries no name or time. Nothing is read from the
// file system while the archive is written, so directories, umask and file
// times of the inputs cannot leak in. The launch digest an operator's key
// broker trusts is computed over these bytes.
//
// Hand-written here: the .modinfo reader and the closure walk (kmod's depmod
// does this in C; no maintained Go library reads an unpacked tree without a
// modules.dep).
package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/klauspost/compress/gzip"
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
}

// Build writes the gzip-compressed cpio archive for spec to w.
func Build(spec Spec, w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("starting gzip: %w", err)
	}
	zw.ModTime = time.Unix(0, 0) // MTIME 0: "no time stamp" (RFC 1952 §2.3.1)
	if err := WriteCPIO(spec, zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finishing gzip: %w", err)
	}
	return nil
}
