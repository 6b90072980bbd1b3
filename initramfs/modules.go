package initramfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Sentinel errors of module resolution.
var (
	// ErrModuleNotFound: a wanted module or a dependency is neither a module
	// file in the tree nor listed in modules.builtin.
	ErrModuleNotFound = errors.New("kernel module not found")
	// ErrDependencyCycle: depends= entries form a loop (the kernel's modpost
	// never produces one, so the tree is corrupt).
	ErrDependencyCycle = errors.New("kernel module dependency cycle")
	// ErrWrongKernel: a module's vermagic names another kernel release.
	ErrWrongKernel = errors.New("kernel module built for another kernel release")
)

// DefaultModules returns the modules a cvminit boot loads on Debian's
// kernel: the root file systems ext4 and erofs (a build ships the one its
// config names) and overlay; device-mapper with crypt and verity; virtio
// transport, disk, network and console; sev-guest for /dev/sev-guest;
// aesni_intel; and crc32c_generic, which ext4 requests on demand (there is
// no modprobe helper in the initramfs).
//
// dm-crypt's xts(aes) comes only from aesni_intel: Debian's built-in
// aes-generic looks up tables indexed by key and data, which a host sharing
// the CPU's caches can watch, and SEV-SNP does not hide cache timing. The
// image carries neither the xts nor the ecb template, so the kernel cannot
// fall back to it: on a CPU without AES-NI (every SEV-SNP CPU has it; a
// host may still hide it) aesni_intel fails to load and the boot fails
// closed (MODULES_FAILED).
//
// The order is the load order where dependencies leave a choice, and the
// guest loads modules side by side, the earliest ready first: ext4 (by far
// the largest module and the slowest to load) and the chains of
// device-mapper and virtio modules come first, modules nothing depends on
// last, to fill the gaps.
func DefaultModules() []string {
	return []string{
		"ext4", "erofs", "dm_mod", "dm_crypt", "dm_verity",
		"virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "sev_guest",
		"overlay", "aesni_intel", "crc32c_generic",
	}
}

// Module is one kernel module to ship in the image.
type Module struct {
	Name    string   // canonical name ('_' for '-'), e.g. "dm_crypt"
	Path    string   // absolute path in the image, always ending in .ko
	Depends []string // canonical names from its depends= entry
	// SoftPre names the modules of the closure that provide one of its soft
	// pre-dependencies (softdep=pre:, matched against names and aliases):
	// libcrc32c's init allocates "crc32c" and fails unless crc32c_generic
	// is loaded first. Filled in by Resolve.
	SoftPre []string
	Data    []byte // the uncompressed .ko file

	aliases, softPre []string // from .modinfo, normalised
}

// Closure is a resolved set of modules.
type Closure struct {
	Release string   // kernel release the modules belong to
	Modules []Module // dependency order: each module after everything it depends on
	Builtin []string // wanted names built into the kernel: nothing to load
}

// Paths returns the image paths of c.Modules in load order.
func (c Closure) Paths() []string {
	out := make([]string, len(c.Modules))
	for i, m := range c.Modules {
		out[i] = m.Path
	}
	return out
}

// Files returns c.Modules as image files for Spec.Modules, followed by
// their modules.dep (see DepFile) when there are any.
func (c Closure) Files() []File {
	out := make([]File, len(c.Modules), len(c.Modules)+1)
	for i, m := range c.Modules {
		out[i] = File{Path: m.Path, Data: m.Data, Mode: 0o644}
	}
	if dep, ok := c.DepFile(); ok {
		out = append(out, dep)
	}
	return out
}

// ModuleTree is an unpacked lib/modules/<release> directory, as found in a
// kernel package. It needs no modules.dep: dependencies come from each
// module's .modinfo section.
type ModuleTree struct {
	dir, release string
	files        map[string]string // canonical name -> path relative to dir
	builtin      map[string]bool   // canonical names from modules.builtin
}

// OpenModuleTree indexes the module files under dir. release is the kernel
// release; empty means the base name of dir.
func OpenModuleTree(dir, release string) (*ModuleTree, error) {
	if release == "" {
		release = filepath.Base(filepath.Clean(dir))
	}
	if release == "" || release == "." || release == "/" || strings.ContainsAny(release, `/\ `) {
		return nil, fmt.Errorf("invalid kernel release %q", release)
	}
	t := &ModuleTree{dir: dir, release: release, files: map[string]string{}}
	if err := t.index(); err != nil {
		return nil, fmt.Errorf("indexing modules in %s: %w", dir, err)
	}
	b, err := readBuiltin(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	t.builtin = b
	return t, nil
}

// Release returns the kernel release of the tree.
func (t *ModuleTree) Release() string { return t.release }

func (t *ModuleTree) index() error {
	return filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base, _, ok := moduleBase(d.Name())
		if d.IsDir() || !ok {
			return nil
		}
		rel, err := filepath.Rel(t.dir, p)
		if err != nil {
			return err
		}
		name := normalizeName(base)
		if prev, dup := t.files[name]; dup {
			return fmt.Errorf("module %s found twice: %s and %s", name, prev, rel)
		}
		t.files[name] = rel
		return nil
	})
}

// readBuiltin reads modules.builtin (one path per line, e.g.
// kernel/crypto/cbc.ko). A missing file means no built-in modules.
func readBuiltin(file string) (map[string]bool, error) {
	out := map[string]bool{}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading modules.builtin: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if base, _, ok := moduleBase(path.Base(strings.TrimSpace(sc.Text()))); ok {
			out[normalizeName(base)] = true
		}
	}
	return out, sc.Err()
}

// Resolve returns the wanted modules and everything they depend on, in
// dependency order. Names may use '-' or '_'. Built-in modules are skipped
// and reported in Closure.Builtin. Soft dependencies (softdep=) are not
// followed: they name aliases; list the providers explicitly instead. A
// provider that is in the closure is loaded before the modules that name
// it as a soft pre-dependency (Module.SoftPre).
func (t *ModuleTree) Resolve(wanted []string) (Closure, error) {
	r := &resolver{tree: t, state: map[string]visitState{}}
	c := Closure{Release: t.release}
	for _, w := range wanted {
		n := normalizeName(strings.TrimSpace(w))
		if t.builtin[n] && r.state[n] == unvisited {
			r.state[n] = done
			c.Builtin = append(c.Builtin, n)
			continue
		}
		if err := r.visit(n, nil); err != nil {
			return Closure{}, err
		}
	}
	c.Modules = orderSoft(r.out)
	return c, nil
}
