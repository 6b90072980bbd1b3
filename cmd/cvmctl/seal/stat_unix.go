//go:build unix

package seal

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// statOf returns what the listing and the size estimate need from fi
// beyond fs.FileInfo.
func statOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	rdev := uint64(st.Rdev)
	return fileID{uid: int(st.Uid), gid: int(st.Gid), dev: uint64(st.Dev), ino: uint64(st.Ino),
		nlink: uint64(st.Nlink), major: unix.Major(rdev), minor: unix.Minor(rdev)}, true
}
