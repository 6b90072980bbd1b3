package seal

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// checkInput makes sure the input exists and is of a kind Seal takes.
func (o *Options) checkInput() error {
	if o.FSImage != "" {
		fi, err := os.Stat(o.FSImage)
		switch {
		case err != nil:
			return fmt.Errorf("%w: %w", ErrInput, err)
		case !fi.Mode().IsRegular() || fi.Size() == 0 || fi.Size()%blockSize != 0:
			return fmt.Errorf("%w: file system image %s: want a regular file of a positive multiple of %d bytes",
				ErrInput, o.FSImage, blockSize)
		}
		return nil
	}
	switch fi, err := os.Stat(o.Input); {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrInput, err)
	case !fi.IsDir() && !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is neither a directory nor a tar archive", ErrInput, o.Input)
	}
	return nil
}

// Superblock magics (ext4: s_magic at 1024+0x38; erofs: at 1024).
const (
	ext4Magic  = 0xEF53
	erofsMagic = 0xE0F5E1E2
)

// copyFSImage copies the given file system image to img after checking
// that it is a file system of type o.FS, and returns its size.
func copyFSImage(o *Options, img string) (*tree, int64, error) {
	in, err := os.Open(o.FSImage)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer in.Close()
	sb := make([]byte, 2048)
	if _, err := io.ReadFull(in, sb); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %w", ErrInput, o.FSImage, err)
	}
	if ok := o.FS == FSExt4 && binary.LittleEndian.Uint16(sb[1024+0x38:]) == ext4Magic ||
		o.FS == FSErofs && binary.LittleEndian.Uint32(sb[1024:]) == erofsMagic; !ok {
		return nil, 0, fmt.Errorf("%w: %s is not an %s file system image", ErrInput, o.FSImage, o.FS)
	}
	out, err := os.OpenFile(img, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer out.Close()
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(out, in)
	if err != nil {
		return nil, 0, fmt.Errorf("copying %s: %w", o.FSImage, err)
	}
	return &tree{info: InputInfo{Kind: "fs-image"}}, n, out.Close()
}
