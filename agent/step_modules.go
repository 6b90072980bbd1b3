package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// modulesRoot holds a directory per kernel release; depFileName is the
// dependency list in each (initramfs.DepFileName, kmod's modules.dep(5)).
const (
	modulesRoot = "/lib/modules/"
	depFileName = "modules.dep"
)

// errNoDepFile: the image has no modules.dep for its modules.
var errNoDepFile = errors.New("no modules.dep")

// stepModules loads the module list computed at build time. The kernel
// verifies, links and initialises each module in finit_module, which takes
// tens to hundreds of milliseconds per module under emulation, so modules
// load side by side, one per CPU: each as soon as the modules it depends on
// (modules.dep, written next to them by cvmctl initramfs build) are loaded.
// Without a usable modules.dep every module waits for all before it, as
// the list is in dependency order. The first failure stops new loads; the
// loads under way finish (finit_module cannot be interrupted) and the step
// fails.
//
// Only the modules the network and the SNP report need (earlyModules and
// what they depend on) load within the step; the others go on loading in
// the background while the guest talks to the broker: first the disk's
// (driver, device mapper, ciphers), which the disk step waits for, then
// the root file system's, which load while the disk is unlocked and the
// mount step waits for (awaitModules).
func stepModules(ctx context.Context, s *State) error {
	mods := s.Config.Modules
	if len(mods) == 0 {
		return nil
	}
	deps, err := moduleDeps(s.sys.Files, mods)
	switch {
	case errors.Is(err, errNoDepFile):
		s.log.Debug("modules load one after the other", "reason", err)
	case err != nil:
		s.log.Warn("modules load one after the other", "reason", err)
	}
	early, late := planModules(mods, deps), modulePlan{}
	if deps != nil { // else every module waits for all before it: nothing can go to the background
		early, late = splitModules(early, func(n string) bool { return slices.Contains(earlyModules(), n) })
	}

	load := func(p string) error {
		t0 := s.sys.Clock.Now()
		if err := s.sys.Modules.Load(p); err != nil {
			return err
		}
		s.log.Debug("module loaded", "path", p, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
		return nil
	}
	if err := early.run(ctx, workers(), func(i int) error { return load(early.paths[i]) }); err != nil {
		return err
	}
	if len(late.paths) > 0 {
		s.lateModules = startLate(ctx, s, stageModules(late, s.Config.Disk.FSType), load)
	}
	return nil
}

// modulePlan is the module list with, for each entry, the positions of
// the entries it must wait for: always earlier ones, so list order is
// always a valid load order and no wait can deadlock.
type modulePlan struct {
	paths []string
	waits [][]int
}

// planModules plans paths (in dependency order) with deps (path -> the
// paths it needs, as moduleDeps returns; nil when unknown). A module with
// no deps entry waits for every module before it. A dependency missing from
// the list (built in) or later in it is not waited for: the list order
// already decides, as it did when modules loaded one after the other.
func planModules(paths []string, deps map[string][]string) modulePlan {
	pos := make(map[string]int, len(paths))
	for i, p := range paths {
		pos[p] = i
	}
	p := modulePlan{paths: paths, waits: make([][]int, len(paths))}
	for i, m := range paths {
		need, ok := deps[m]
		if !ok {
			for j := range i {
				p.waits[i] = append(p.waits[i], j)
			}
			continue
		}
		for _, d := range need {
			if j, ok := pos[d]; ok && j < i && !slices.Contains(p.waits[i], j) {
				p.waits[i] = append(p.waits[i], j)
			}
		}
	}
	return p
}

// loadResult is the outcome of one load.
type loadResult struct {
	i   int
	err error
}

// run loads every module with load(i), at most workers at a time, each
// once its waits are done, the earliest ready entry first. It returns the
// failures, in list order, once no load is under way; after a failure or
// the end of ctx it starts no more loads.
func (p modulePlan) run(ctx context.Context, workers int, load func(i int) error) error {
	pending := make([]int, len(p.paths)) // unfinished waits per entry
	next := make([][]int, len(p.paths))  // entries waiting for each entry
	var ready []int
	for i, ws := range p.waits {
		pending[i] = len(ws)
		for _, j := range ws {
			next[j] = append(next[j], i)
		}
		if len(ws) == 0 {
			ready = append(ready, i)
		}
	}
	results := make(chan loadResult)
	var failed []loadResult
	started := make([]bool, len(p.paths))
	running := 0
	for {
		for running < workers && len(ready) > 0 && len(failed) == 0 && ctx.Err() == nil {
			i := ready[0]
			ready = ready[1:]
			running++
			started[i] = true
			go func() { results <- loadResult{i, load(i)} }()
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		if r.err != nil {
			failed = append(failed, r)
			continue
		}
		for _, j := range next[r.i] {
			if pending[j]--; pending[j] == 0 {
				ready = insertSorted(ready, j)
			}
		}
	}
	return p.outcome(ctx, failed, started)
}

// outcome is run's error: the failed loads in list order, else the end of
// ctx if modules are left.
func (p modulePlan) outcome(ctx context.Context, failed []loadResult, started []bool) error {
	if len(failed) > 0 {
		slices.SortFunc(failed, func(a, b loadResult) int { return a.i - b.i })
		errs := make([]error, len(failed))
		for k, f := range failed {
			errs[k] = fmt.Errorf("loading module %s: %w", p.paths[f.i], f.err)
		}
		return errors.Join(errs...)
	}
	if i := slices.Index(started, false); i >= 0 {
		err := ctx.Err()
		if err == nil { // unreachable: every wait is on an earlier entry
			err = errors.New("dependency wait never ended")
		}
		return fmt.Errorf("before loading %s: %w", p.paths[i], err)
	}
	return nil
}

// moduleDeps reads the modules.dep of the directory the first module is in,
// /lib/modules/<release>, and returns each module it lists with the modules
// it needs, as absolute paths.
func moduleDeps(files Files, mods []string) (map[string][]string, error) {
	rest, ok := strings.CutPrefix(mods[0], modulesRoot)
	release, _, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || release == "" {
		return nil, fmt.Errorf("%w: %s is not in %s<release>", errNoDepFile, mods[0], modulesRoot)
	}
	dir := modulesRoot + release
	b, err := files.ReadFile(path.Join(dir, depFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", errNoDepFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", depFileName, err)
	}
	return parseModulesDep(dir, string(b))
}

// parseModulesDep parses modules.dep text: a line per module, "path:"
// followed by the paths it needs, separated by blanks; paths relative to
// dir unless absolute. Blank lines and # comments are skipped.
func parseModulesDep(dir, text string) (map[string][]string, error) {
	abs := func(p string) string {
		if path.IsAbs(p) {
			return path.Clean(p)
		}
		return path.Join(dir, p)
	}
	out := map[string][]string{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" || strings.ContainsAny(mod, " \t") {
			return nil, fmt.Errorf("%s line %d: want \"module: dependencies\"", depFileName, n+1)
		}
		if _, dup := out[abs(mod)]; dup {
			return nil, fmt.Errorf("%s line %d: %s listed twice", depFileName, n+1, mod)
		}
		need := []string{} // present even when empty: the module waits for nothing
		for _, d := range strings.Fields(deps) {
			need = append(need, abs(d))
		}
		out[abs(mod)] = need
	}
	return out, nil
}

// insertSorted inserts v into the ascending slice s.
func insertSorted(s []int, v int) []int {
	i, _ := slices.BinarySearch(s, v)
	return slices.Insert(s, i, v)
}
