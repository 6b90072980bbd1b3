package agent

import (
	"context"
	"fmt"
	"io/fs"
)

// setupAction is one piece of static setup.
type setupAction interface {
	apply(m Mounter) error
	String() string
}

type mkdirAction struct {
	path string
	perm fs.FileMode
}

func (a mkdirAction) apply(m Mounter) error { return m.MkdirAll(a.path, a.perm) }
func (a mkdirAction) String() string        { return "mkdir " + a.path }

type mountAction struct{ Mount }

func (a mountAction) apply(m Mounter) error { return m.Mount(a.Mount) }
func (a mountAction) String() string        { return fmt.Sprintf("mount %s on %s", a.FSType, a.Target) }

// setupActions is the static setup PID 1 does before anything else.
func setupActions(newRoot string) []setupAction {
	const hardened = MountNoSuid | MountNoDev | MountNoExec
	return []setupAction{
		mkdirAction{"/proc", 0o555},
		mkdirAction{"/sys", 0o555},
		mkdirAction{"/dev", 0o755},
		mkdirAction{"/run", 0o755},
		mkdirAction{newRoot, 0o755},
		mountAction{Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: hardened}},
		mountAction{Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: hardened}},
		mountAction{Mount{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: MountNoSuid, Data: "mode=0755"}},
		mountAction{Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: MountNoSuid | MountNoDev, Data: "mode=0755"}},
	}
}

// stepMounts mounts /proc, /sys, /dev and /run.
func stepMounts(_ context.Context, s *State) error {
	for _, a := range setupActions(s.opts.NewRoot) {
		if err := a.apply(s.sys.Mounter); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	return nil
}
