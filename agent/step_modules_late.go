package agent

import (
	"context"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
)

// earlyModules are the modules, by canonical name, that steps before disk
// need: the virtio transport, the network device and the emulator's
// console port, and the SNP guest drivers. With what they depend on they
// load within the modules step; the rest loads in the background.
func earlyModules() []string {
	return []string{"virtio_pci", "virtio_net", "virtio_console", "sev_guest", "tsm"}
}

// workers is how many modules load at a time: one per CPU.
func workers() int { return max(1, runtime.NumCPU()) }

// moduleName is the canonical name of a module file:
// ".../dm-crypt.ko.xz" is "dm_crypt".
func moduleName(p string) string {
	n, _, _ := strings.Cut(path.Base(p), ".ko")
	return strings.ReplaceAll(n, "-", "_")
}

// splitModules splits p into the early modules with everything they wait
// for, and the rest, each a plan of its own: a late module's waits on early
// modules are dropped, as those are loaded before it starts. Without known
// dependencies (split false) everything is early.
func splitModules(p modulePlan, split bool) (early, late modulePlan) {
	in := make([]bool, len(p.paths))
	var mark func(i int)
	mark = func(i int) {
		if in[i] {
			return
		}
		in[i] = true
		for _, j := range p.waits[i] {
			mark(j)
		}
	}
	for i, m := range p.paths {
		if !split || slices.Contains(earlyModules(), moduleName(m)) {
			mark(i)
		}
	}
	return p.subset(in, true), p.subset(in, false)
}

// subset is the plan of the entries whose in is want, renumbered; waits on
// entries outside it are dropped.
func (p modulePlan) subset(in []bool, want bool) modulePlan {
	pos := make([]int, len(p.paths))
	var out modulePlan
	for i, m := range p.paths {
		pos[i] = -1
		if in[i] == want {
			pos[i] = len(out.paths)
			out.paths = append(out.paths, m)
		}
	}
	for i := range p.paths {
		if in[i] != want {
			continue
		}
		var ws []int
		for _, j := range p.waits[i] {
			if pos[j] >= 0 {
				ws = append(ws, pos[j])
			}
		}
		out.waits = append(out.waits, ws)
	}
	return out
}

// startLate loads plan in the background, bounded by ctx's deadline but
// not ended with the step, and reports the outcome once on the channel.
func startLate(ctx context.Context, s *State, plan modulePlan, load func(string) error) <-chan error {
	bg := context.WithoutCancel(ctx)
	cancel := func() {}
	if d, ok := ctx.Deadline(); ok {
		bg, cancel = context.WithDeadline(bg, d)
	}
	done := make(chan error, 1)
	t0 := s.sys.Clock.Now()
	go func() {
		defer cancel()
		err := plan.run(bg, workers(), func(i int) error { return load(plan.paths[i]) })
		s.log.Debug("background modules loaded", "modules", len(plan.paths),
			"ms", s.sys.Clock.Now().Sub(t0).Milliseconds(), "err", err)
		done <- err
	}()
	return done
}

// awaitModules waits until the modules loading in the background are
// loaded; a failure is ErrModules (MODULES_FAILED).
func (s *State) awaitModules(ctx context.Context) error {
	if s.lateModules == nil {
		return nil
	}
	t0 := s.sys.Clock.Now()
	select {
	case err := <-s.lateModules:
		s.lateModules = nil
		if err != nil {
			return fmt.Errorf("%w: %w", ErrModules, err)
		}
		s.log.Debug("waited for background modules", "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: still loading: %w", ErrModules, ctx.Err())
	}
}
