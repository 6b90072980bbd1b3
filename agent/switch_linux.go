package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/mount"
	"golang.org/x/sys/unix"
)

// urootSwitcher is u-root's mount.SwitchRoot with the checks that make it
// all but certain to succeed done beforehand.
type urootSwitcher struct{}

// Check verifies that newRoot is a mount point, that /dev, /proc, /sys and
// /run exist in it as directories (a read-only root cannot have them
// created), and that init is an executable regular file inside it.
func (urootSwitcher) Check(newRoot, init string) error {
	same, err := mount.SameFilesystem("/", newRoot)
	if err != nil {
		return err
	}
	if same {
		return fmt.Errorf("%s is not a mount point", newRoot)
	}
	var errs []error
	for _, d := range []string{"dev", "proc", "sys", "run"} {
		if fi, err := os.Stat(filepath.Join(newRoot, d)); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("/%s missing in the new root", d))
		}
	}
	if err := checkExecutable(newRoot, init); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkExecutable resolves init inside newRoot as exec will after the
// chroot, and checks it is an executable regular file.
func checkExecutable(newRoot, init string) error {
	p, err := resolveInRoot(newRoot, init)
	if err != nil {
		return fmt.Errorf("init %s: %w", init, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("init %s: %w", init, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("init %s is not an executable file (%s)", init, fi.Mode())
	}
	return nil
}

// resolveInRoot follows symlinks in p as if root were "/" (absolute links
// restart at root, ".." stops at it) and returns the host path.
func resolveInRoot(root, p string) (string, error) {
	todo := strings.Split(p, "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New("too many levels of symbolic links")
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return filepath.Join(root, cur), nil
}

// SwitchRoot hands over; it returns only on failure.
func (urootSwitcher) SwitchRoot(newRoot, init string) error {
	unix.Sync()
	return mount.SwitchRoot(newRoot, init)
}
