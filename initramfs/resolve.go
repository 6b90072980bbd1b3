package initramfs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
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
	return Module{Name: name, Path: imgPath, Depends: mi.depends, Data: ko}, nil
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
