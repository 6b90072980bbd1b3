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
// are stageEarly, which the modules step waits for.
func earlyModules() []string {
	return []string{"virtio_pci", "virtio_net", "virtio_console", "sev_guest", "tsm"}
}

// moduleStage is the part of the modules that one step waits for
// (awaitModules): the modules step waits for stageEarly, the others load
// in the background while later steps run.
type moduleStage int

const (
	// stageEarly is earlyModules with what they need.
	stageEarly moduleStage = iota
	// stageDisk is the disk driver: every module the later stages do not
	// need. The disk search (the key step's scout, the disk step) awaits it.
	stageDisk
	// stageCrypt is device-mapper with its crypt and verity targets and
	// the AES implementation (cryptModules), with what only they need; it
	// loads while the key is fetched, and the unlock step awaits it just
	// before the dm-crypt table is loaded.
	stageCrypt
	// stageRoot is the root file system's module with what only it needs;
	// it loads while the disk is unlocked and checked, and the mount step
	// awaits it.
	stageRoot
	// stageWritable is overlay, which the mount step awaits once the root
	// is mounted, before the writable places of a read-only root.
	stageWritable
	numStages
)

func (st moduleStage) String() string {
	return [...]string{"early", "disk", "crypt", "root", "writable"}[st]
}

// cryptModules are the stageCrypt modules, by canonical name: the
// device-mapper targets and the AES-NI implementation dm-crypt must use
// (initramfs.DefaultModules says why).
func cryptModules() []string { return []string{"dm_crypt", "dm_verity", "aesni_intel"} }

// rootModules are the stageRoot modules, by canonical name, for a root of
// file system fstype (its module has the file system's name).
func rootModules(fstype string) []string { return []string{fstype} }

// writableModules are the stageWritable modules, by canonical name.
func writableModules() []string { return []string{"overlay"} }

// workers is how many modules load at a time: one per CPU.
func workers() int { return max(1, runtime.NumCPU()) }

// backgroundWorkers is how many of them may belong to a background stage:
// one CPU fewer (at least one), so that the steps always have a CPU. The
// kernel verifies and links a module without yielding the CPU for long
// stretches; measured under QEMU with 2 vCPUs (background loads then at
// the lowest priority), the key step took about 100 ms less with one
// worker than with two.
func backgroundWorkers() int { return max(1, runtime.NumCPU()-1) }

// moduleName is the canonical name of a module file:
// ".../dm-crypt.ko.xz" is "dm_crypt".
func moduleName(p string) string {
	n, _, _ := strings.Cut(path.Base(p), ".ko")
	return strings.ReplaceAll(n, "-", "_")
}

// moduleStages gives each entry of p the first stage that needs it, in
// stage order: stageEarly is earlyModules with what they wait for;
// stageDisk every module the later stages do not need, with what it waits
// for; stageCrypt, stageRoot and stageWritable what is left of
// cryptModules, rootModules and writableModules and what they wait for.
// A module two stages need loads with the earlier one, so a stage only
// ever waits for its own or earlier stages.
func moduleStages(p modulePlan, fstype string) []moduleStage {
	named := func(names []string) func(i int) bool {
		return func(i int) bool { return slices.Contains(names, moduleName(p.paths[i])) }
	}
	crypt, root := p.closure(named(cryptModules())), p.closure(named(rootModules(fstype)))
	writable := p.closure(named(writableModules()))
	seeds := [numStages]func(i int) bool{
		stageEarly:    named(earlyModules()),
		stageDisk:     func(i int) bool { return !crypt[i] && !root[i] && !writable[i] },
		stageCrypt:    func(i int) bool { return crypt[i] },
		stageRoot:     func(i int) bool { return root[i] },
		stageWritable: func(int) bool { return true },
	}
	stage := make([]moduleStage, len(p.paths))
	set := make([]bool, len(p.paths))
	for st, seed := range seeds {
		for i, in := range p.closure(seed) {
			if in && !set[i] {
				stage[i], set[i] = moduleStage(st), true
			}
		}
	}
	return stage
}

// closure marks the entries seed picks and everything they wait for.
func (p modulePlan) closure(seed func(i int) bool) []bool {
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
	for i := range p.paths {
		if seed(i) {
			mark(i)
		}
	}
	return in
}

// startModules loads p (whose entries belong to stage) with a
// moduleLoader, bounded by ctx's deadline but not ended with the step, and
// returns each stage's latch. Background loads run on their one CPU at a
// raised priority (atLoadPriority): they are the longest chain to
// switch_root, and the steps beside them (network, attest, key, then
// unlock and verity) mostly wait.
func startModules(ctx context.Context, s *State, p modulePlan, stage []moduleStage) [numStages]*latch {
	var out [numStages]*latch
	for i := range out {
		out[i] = &latch{done: make(chan struct{})}
	}
	l := newModuleLoader(p, stage, workers(), backgroundWorkers())
	l.load = func(i int) error {
		if stage[i] == stageEarly {
			return loadModule(s, p.paths[i])
		}
		return atLoadPriority(func() error { return loadModule(s, p.paths[i]) })
	}
	t0 := s.sys.Clock.Now()
	l.done = func(st moduleStage, err error) {
		s.log.Debug("modules loaded", "stage", st, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds(), "err", err)
		out[st].set(err)
	}
	bg, cancel := detach(ctx)
	go func() {
		defer cancel()
		l.run(bg)
	}()
	return out
}

// loadModule loads the module at path p.
func loadModule(s *State, p string) error {
	t0 := s.sys.Clock.Now()
	if err := s.sys.Modules.Load(p); err != nil {
		return err
	}
	s.log.Debug("module loaded", "path", p, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
	return nil
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

// awaitModules waits until stage st is loaded; a failure is ErrModules
// (MODULES_FAILED), for every waiter. Without modules it returns at once.
func (s *State) awaitModules(ctx context.Context, st moduleStage) error {
	l := s.modules[st]
	if l == nil {
		return nil
	}
	t0 := s.sys.Clock.Now()
	select {
	case <-l.done:
		if l.err != nil {
			return fmt.Errorf("%w: %w", ErrModules, l.err)
		}
		s.log.Debug("waited for modules", "stage", st, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: still loading: %w", ErrModules, ctx.Err())
	}
}
