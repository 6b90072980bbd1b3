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
// The step waits only for the modules the network and the SNP report need
// (stageEarly); the others start as soon as a CPU is free and go on
// loading in the background while the guest talks to the broker: the disk
// driver, which the disk search waits for, device-mapper and the cipher,
// which unlock waits for, the root file system's and overlay, which the
// mount step waits for (moduleStages, awaitModules).
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
	plan := planModules(mods, deps)
	stage := make([]moduleStage, len(mods)) // all stageEarly: each waits for all before it, nothing is left to the background
	if deps != nil {
		stage = moduleStages(plan, s.Config.Disk.FSType)
	}
	s.modules = startModules(ctx, s, plan, stage)
	return s.awaitModules(ctx, stageEarly)
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
