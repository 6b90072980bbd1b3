package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// stepMount waits for the root file system's modules loading in the
// background, then mounts the root file system on the new root: from the
// dm-verity device when there is one, always read-only then (ext4 with
// "noload": nothing may replay a journal into a device that cannot be
// written). A root that cannot be written (dm-verity or erofs) then gets
// its writable places in memory (writablePlaces), once overlay is loaded.
func stepMount(ctx context.Context, s *State) error {
	if err := s.awaitModules(ctx, stageRoot); err != nil {
		return err
	}
	d := s.Config.Disk
	src := s.rootSource()
	flags, data := mountOptions(d.Options)
	readOnly := s.Verified != "" || d.FSType == "erofs"
	if readOnly {
		flags |= MountReadOnly
	}
	if s.Verified != "" && d.FSType == "ext4" {
		data = addOption(data, "noload")
	}
	m := Mount{Source: src, Target: s.opts.NewRoot, FSType: d.FSType, Flags: flags, Data: data}
	if err := s.sys.Mounter.Mount(m); err != nil {
		return fmt.Errorf("mounting %s (%s) on %s: %w", src, d.FSType, s.opts.NewRoot, err)
	}
	s.log.Info("root mounted", "dev", src, "fstype", d.FSType, "on", s.opts.NewRoot, "read_only", flags&MountReadOnly != 0)
	if !readOnly {
		return nil
	}
	if err := s.awaitModules(ctx, stageWritable); err != nil {
		return err
	}
	return writablePlaces(s)
}

// addOption appends o to comma-separated options unless already there.
func addOption(opts, o string) string {
	if opts == "" {
		return o
	}
	if slices.Contains(strings.Split(opts, ","), o) {
		return opts
	}
	return opts + "," + o
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
