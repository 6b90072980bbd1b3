package seal

import (
	"archive/tar"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// mknod makes a device node or FIFO (tar type typ) with mode 0600, chmod
// comes after, through a directory opened in root so it cannot land
// outside the tree.
func mknod(root *os.Root, name string, typ byte, major, minor int64) error {
	d, err := root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	kind := uint32(unix.S_IFIFO)
	switch typ {
	case tar.TypeChar:
		kind = unix.S_IFCHR
	case tar.TypeBlock:
		kind = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(major), uint32(minor)))
	return unix.Mknodat(int(d.Fd()), path.Base(name), kind|0o600, dev)
}
