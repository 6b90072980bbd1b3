package initramfs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

type visitState int

const (
	unvisited visitState = iota
	visiting
	done
)

// resolver walks depends= edges depth first and emits modules in post-order,
// so every module follows its dependencies.
type resolver struct {
	tree  *ModuleTree
	state map[string]visitState
	out   []Module
}

func (r *resolver) visit(name string, chain []string) error {
	chain = append(chain, name)
	switch r.state[name] {
	case done:
		return nil
	case visiting:
		return fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(chain, " -> "))
	}
	if r.tree.builtin[name] {
		r.state[name] = done
		return nil
	}
	m, err := r.tree.load(name)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", strings.Join(chain, " -> "), err)
	}
	r.state[name] = visiting
	for _, d := range m.Depends {
		if err := r.visit(d, chain); err != nil {
			return err
		}
	}
	r.state[name] = done
	r.out = append(r.out, m)
	return nil
}

// load reads, decompresses and checks one module of the tree.
func (t *ModuleTree) load(name string) (Module, error) {
	if name == "" {
		return Module{}, fmt.Errorf("%w: empty name", ErrModuleNotFound)
	}
	rel, ok := t.files[name]
	if !ok {
		return Module{}, fmt.Errorf("%w: %s (not in %s, not built in)", ErrModuleNotFound, name, t.dir)
	}
	raw, err := os.ReadFile(filepath.Join(t.dir, rel))
	if err != nil {
		return Module{}, fmt.Errorf("reading module: %w", err)
	}
	base, ext, _ := moduleBase(rel)
	ko, err := decompressModule(raw, ext)
	if err != nil {
		return Module{}, fmt.Errorf("%s: %w", rel, err)
	}
	mi, err := parseModinfo(ko)
	if err != nil {
		return Module{}, fmt.Errorf("%s: %w", rel, err)
	}
	if err := t.check(mi, name); err != nil {
		return Module{}, fmt.Errorf("%s: %w", rel, err)
	}
	imgPath := path.Join("/lib/modules", t.release, filepath.ToSlash(base)+".ko")
	return Module{Name: name, Path: imgPath, Depends: mi.depends, Data: ko, aliases: mi.aliases, softPre: mi.softPre}, nil
}

// check compares the module's own name= and vermagic= with what the tree
// says about it.
func (t *ModuleTree) check(mi modinfo, name string) error {
	if mi.name != "" && mi.name != name {
		return fmt.Errorf("%w: file is named %s but .modinfo says %s", ErrBadModule, name, mi.name)
	}
	f := strings.Fields(mi.vermagic)
	if len(f) == 0 {
		return fmt.Errorf("%w: no vermagic", ErrBadModule)
	}
	if f[0] != t.release {
		return fmt.Errorf("%w: vermagic %q, want release %s", ErrWrongKernel, f[0], t.release)
	}
	return nil
}

// orderSoft fills in SoftPre and reorders mods (in dependency order) so
// that each module also follows the providers of its soft
// pre-dependencies, keeping the order otherwise: a depth-first walk in the
// given order along both kinds of edges. A soft edge that would close a
// cycle with the edges before it is dropped.
func orderSoft(mods []Module) []Module {
	index := map[string]int{}
	for i, m := range mods {
		for _, a := range m.aliases {
			index[a] = i
		}
	}
	for i, m := range mods {
		index[m.Name] = i // a module's own name wins over another's alias
	}
	needs := make([][]int, len(mods))
	for i, m := range mods {
		for _, d := range m.Depends {
			if j, ok := index[d]; ok {
				needs[i] = append(needs[i], j)
			}
		}
	}
	for i := range mods {
		for _, s := range mods[i].softPre {
			j, ok := index[s]
			if !ok || j == i || slices.Contains(needs[i], j) || reaches(needs, j, i) {
				continue
			}
			needs[i] = append(needs[i], j)
			mods[i].SoftPre = append(mods[i].SoftPre, mods[j].Name)
		}
	}
	out := make([]Module, 0, len(mods))
	emitted := make([]bool, len(mods))
	var emit func(i int)
	emit = func(i int) {
		emitted[i] = true // the edges have no cycle: marking first only guards repeats
		for _, j := range needs[i] {
			if !emitted[j] {
				emit(j)
			}
		}
		out = append(out, mods[i])
	}
	for i := range mods {
		if !emitted[i] {
			emit(i)
		}
	}
	return out
}

// reaches reports whether to can be reached from from along needs.
func reaches(needs [][]int, from, to int) bool {
	seen := map[int]bool{}
	var walk func(i int) bool
	walk = func(i int) bool {
		if i == to {
			return true
		}
		if seen[i] {
			return false
		}
		seen[i] = true
		return slices.ContainsFunc(needs[i], walk)
	}
	return walk(from)
}
