package agent

import (
	"context"
	"fmt"
	"strings"
)

// stepMount mounts the unlocked root file system on the new root.
func stepMount(_ context.Context, s *State) error {
	d := s.Config.Disk
	flags, data := mountOptions(d.Options)
	if d.FSType == "erofs" {
		flags |= MountReadOnly
	}
	m := Mount{Source: s.Mapped, Target: s.opts.NewRoot, FSType: d.FSType, Flags: flags, Data: data}
	if err := s.sys.Mounter.Mount(m); err != nil {
		return fmt.Errorf("mounting %s (%s) on %s: %w", s.Mapped, d.FSType, s.opts.NewRoot, err)
	}
	s.log.Info("root mounted", "dev", s.Mapped, "fstype", d.FSType, "on", s.opts.NewRoot)
	return nil
}

// mountOptions splits comma-separated options into mount(2) flags and the
// file-system-specific rest, as mount(8) does for the common flags.
func mountOptions(opts string) (MountFlags, string) {
	var flags MountFlags
	var data []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			flags |= MountReadOnly
		case "rw":
			flags &^= MountReadOnly
		case "nosuid":
			flags |= MountNoSuid
		case "nodev":
			flags |= MountNoDev
		case "noexec":
			flags |= MountNoExec
		case "noatime":
			flags |= MountNoAtime
		case "nodiratime":
			flags |= MountNoDiratime
		case "relatime":
			flags |= MountRelatime
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}
