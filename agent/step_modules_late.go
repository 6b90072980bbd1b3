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

// moduleStage is a part of the modules loading in the background, awaited
// by the first step that needs it (awaitModules). Stages load in order.
type moduleStage int

const (
	// stageDisk is the disk driver: everything the other stages do not
	// need. The disk search (the key step's scout, the disk step) awaits it.
	stageDisk moduleStage = iota
	// stageCrypt is device-mapper with its crypt and verity targets and
	// the AES implementation (cryptModules), with what only they need; it
	// loads while the key is fetched, and the unlock step awaits it just
	// before the dm-crypt table is loaded.
	stageCrypt
	// stageRoot is the root file system's module and overlay, with what
	// only they need; it loads while the disk is unlocked and checked, and
	// the mount step awaits it.
	stageRoot
	numStages
)

func (st moduleStage) String() string { return [...]string{"disk", "crypt", "root"}[st] }

// cryptModules are the stageCrypt modules, by canonical name: the
// device-mapper targets and the AES-NI implementation dm-crypt must use
// (initramfs.DefaultModules says why).
func cryptModules() []string { return []string{"dm_crypt", "dm_verity", "aesni_intel"} }

// rootModules are the stageRoot modules, by canonical name, for a root of
// file system fstype (its module has the file system's name).
func rootModules(fstype string) []string { return []string{fstype, "overlay"} }

// workers is how many modules load at a time within the modules step: one
// per CPU.
func workers() int { return max(1, runtime.NumCPU()) }

// backgroundWorkers is how many modules load at a time in the background:
// one CPU fewer (at least one). The kernel verifies and links a module
// without yielding the CPU for long stretches, so a low priority alone
// does not free a CPU for the steps on the critical path; measured under
// QEMU with 2 vCPUs, the key step took about 100 ms less with one worker.
func backgroundWorkers() int { return max(1, runtime.NumCPU()-1) }

// moduleName is the canonical name of a module file:
// ".../dm-crypt.ko.xz" is "dm_crypt".
func moduleName(p string) string {
	n, _, _ := strings.Cut(path.Base(p), ".ko")
	return strings.ReplaceAll(n, "-", "_")
}

// splitModules splits p into the modules seed picks with everything they
// wait for, and the rest, each a plan of its own: the rest's waits on the
// picked modules are dropped, so it must start only once those are loaded.
func splitModules(p modulePlan, seed func(name string) bool) (picked, rest modulePlan) {
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
		if seed(moduleName(m)) {
			mark(i)
		}
	}
	return p.subset(in, true), p.subset(in, false)
}

// stageModules splits the background plan into its stages. stageDisk is
// every module neither cryptModules nor rootModules need, with what it
// waits for; stageCrypt is what is left of cryptModules and what they wait
// for; stageRoot is the rest. A module two stages need loads with the
// earlier one.
func stageModules(late modulePlan, fstype string) [numStages]modulePlan {
	crypt, root := needed(late, cryptModules()), needed(late, rootModules(fstype))
	seeds := [numStages]func(string) bool{
		stageDisk:  func(n string) bool { return !crypt[n] && !root[n] },
		stageCrypt: func(n string) bool { return crypt[n] },
		stageRoot:  func(string) bool { return true },
	}
	var out [numStages]modulePlan
	rest := late
	for st := range numStages {
		out[st], rest = splitModules(rest, seeds[st])
	}
	return out
}

// needed is the set of canonical names of the modules in p named in
// names, with everything they wait for.
func needed(p modulePlan, names []string) map[string]bool {
	picked, _ := splitModules(p, func(n string) bool { return slices.Contains(names, n) })
	out := make(map[string]bool, len(picked.paths))
	for _, m := range picked.paths {
		out[moduleName(m)] = true
	}
	return out
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

// startLate loads the stages in the background, one after the other,
// bounded by ctx's deadline but not ended with the step, and sets each
// stage's latch; after a failure, every later stage reports that failure.
// The loads run on backgroundWorkers threads at the lowest CPU priority
// (atLowPriority): the steps on the critical path (network, attest, key,
// then unlock and verity) take the CPUs first, and the modules fill the
// time those steps wait.
func startLate(ctx context.Context, s *State, stages [numStages]modulePlan, load func(string) error) [numStages]*latch {
	bg, cancel := detach(ctx)
	var out [numStages]*latch
	for i := range out {
		out[i] = &latch{done: make(chan struct{})}
	}
	t0 := s.sys.Clock.Now()
	go func() {
		defer cancel()
		var err error
		for i, plan := range stages {
			if err == nil {
				err = plan.run(bg, backgroundWorkers(), func(j int) error {
					return atLowPriority(func() error { return load(plan.paths[j]) })
				})
				s.log.Debug("background modules loaded", "stage", moduleStage(i), "modules", len(plan.paths),
					"ms", s.sys.Clock.Now().Sub(t0).Milliseconds(), "err", err)
			}
			out[i].set(err)
		}
	}()
	return out
}

// latch is an outcome set once, which any number of waiters see.
type latch struct {
	done chan struct{}
	err  error
}

func (l *latch) set(err error) {
	l.err = err
	close(l.done)
}

// awaitModules waits until the background stage st is loaded; a failure
// is ErrModules (MODULES_FAILED), for every waiter. Without modules in the
// background it returns at once.
func (s *State) awaitModules(ctx context.Context, st moduleStage) error {
	l := s.lateModules[st]
	if l == nil {
		return nil
	}
	t0 := s.sys.Clock.Now()
	select {
	case <-l.done:
		if l.err != nil {
			return fmt.Errorf("%w: %w", ErrModules, l.err)
		}
		s.log.Debug("waited for background modules", "stage", st, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: still loading: %w", ErrModules, ctx.Err())
	}
}
