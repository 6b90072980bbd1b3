package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/cvminit/cvminit/initramfs"
)

// maxInitramfs bounds an unpacked initramfs image.
const maxInitramfs = 1 << 30

// initramfsFiles returns the bytes of /init and of the config
// (initramfs.ConfigPath) in the initramfs image file: one newc cpio
// archive, compressed as cvmctl initramfs build writes it (zstd, xz, gzip) or not,
// read with u-root's pkg/cpio. As when the kernel unpacks it, the last
// record of a path wins; both must be non-empty regular files.
func initramfsFiles(file string) (init, cfg []byte, err error) {
	raw, err := unpackedImage(file)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]*cpio.Record{initramfs.InitPath: nil, initramfs.ConfigPath: nil}
	err = cpio.ForEachRecord(cpio.Newc.Reader(bytes.NewReader(raw)), func(r cpio.Record) error {
		if _, ok := want[path.Clean("/"+r.Name)]; ok {
			want[path.Clean("/"+r.Name)] = &r
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading cpio: %w", file, err)
	}
	if init, err = recordBytes(want[initramfs.InitPath]); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", file, initramfs.InitPath, err)
	}
	if cfg, err = recordBytes(want[initramfs.ConfigPath]); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", file, initramfs.ConfigPath, err)
	}
	return init, cfg, nil
}

// unpackedImage reads file and undoes its compression (any that cvmctl
// initramfs build writes), if any.
func unpackedImage(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := initramfs.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxInitramfs+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(raw) > maxInitramfs {
		return nil, fmt.Errorf("%s: unpacks to more than %d bytes", file, maxInitramfs)
	}
	return raw, nil
}

// recordBytes returns the contents of a regular file's record.
func recordBytes(r *cpio.Record) ([]byte, error) {
	switch {
	case r == nil:
		return nil, fmt.Errorf("not in the image")
	case r.Mode&cpio.S_IFMT != cpio.S_IFREG:
		return nil, fmt.Errorf("not a regular file (mode %#o)", r.Mode)
	case r.FileSize == 0:
		return nil, fmt.Errorf("empty")
	}
	return io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
}
