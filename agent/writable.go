package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// rwDir is where the tmpfs holding the overlay upper layers is mounted. It
// is under /run, which switch_root moves into the new root, so the layers
// stay reachable (and inspectable) from the booted system.
const rwDir = "/run/cvminit-rw"

// Directories of a read-only root that get a writable layer, when they
// exist in the root as directories: a tmpfs on tmpDir, an overlay (upper
// and work directories on the rwDir tmpfs) on each of overlayDirs. What is
// written there lives in memory and is gone at power off. /run needs
// nothing: switch_root moves the initramfs's tmpfs there.
const tmpDir = "tmp"

var overlayDirs = []string{"etc", "var"}

// writablePlaces gives a root that cannot be written the places an
// unmodified Debian-style system writes to while it boots.
func writablePlaces(s *State) error {
	acts, err := writableActions(s.sys.Mounter, s.opts.NewRoot)
	if err != nil {
		return err
	}
	for _, a := range acts {
		if err := a.apply(s.sys.Mounter); err != nil {
			return fmt.Errorf("writable places: %s: %w", a, err)
		}
	}
	names := make([]string, 0, len(acts))
	for _, a := range acts {
		if ma, ok := a.(mountAction); ok {
			names = append(names, ma.FSType+":"+ma.Target)
		}
	}
	s.log.Info("writable places in memory", "mounts", strings.Join(names, ","))
	return nil
}

// writableActions lists the setup for the directories root has: a tmpfs on
// /tmp, then one tmpfs at rwDir and an overlay per directory of
// overlayDirs, the upper layer taking the lower directory's permissions.
func writableActions(m Mounter, root string) ([]setupAction, error) {
	var acts []setupAction
	if _, ok, err := dirIn(m, root, tmpDir); err != nil {
		return nil, err
	} else if ok {
		acts = append(acts, mountAction{Mount{Source: "tmpfs", Target: path.Join(root, tmpDir), FSType: "tmpfs",
			Flags: MountNoSuid | MountNoDev, Data: "mode=1777"}})
	}
	var over []setupAction
	for _, d := range overlayDirs {
		perm, ok, err := dirIn(m, root, d)
		if err != nil {
			return nil, err
		}
		if ok {
			over = append(over, overlayActions(root, d, perm)...)
		}
	}
	if len(over) == 0 {
		return acts, nil
	}
	acts = append(acts, mkdirAction{rwDir, 0o755},
		mountAction{Mount{Source: "tmpfs", Target: rwDir, FSType: "tmpfs", Data: "mode=0755"}})
	return append(acts, over...), nil
}

// overlayActions makes the upper and work directories of dir on the rwDir
// tmpfs and mounts the overlay over root/dir, whose files are its lower
// layer.
func overlayActions(root, dir string, perm fs.FileMode) []setupAction {
	lower, upper, work := path.Join(root, dir), path.Join(rwDir, dir, "upper"), path.Join(rwDir, dir, "work")
	return []setupAction{
		mkdirAction{upper, perm},
		mkdirAction{work, 0o700},
		mountAction{Mount{Source: "overlay", Target: lower, FSType: "overlay",
			Data: "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work}},
	}
}

// dirIn reports whether root/name is a directory (not a symlink to one) and
// its permissions. Absence is no error; any other failure to look (an I/O
// error from a verified block, say) is.
func dirIn(m Mounter, root, name string) (fs.FileMode, bool, error) {
	p := path.Join(root, name)
	fi, err := m.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("writable places: %w", err)
	}
	return fi.Mode().Perm(), fi.IsDir(), nil
}
