package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/initramfs"
	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

const testModDir = "/lib/modules/6.1.0-9-amd64"

// modFiles serves files from a map; errs, when set, fail reads by name.
type modFiles struct {
	files map[string][]byte
	errs  map[string]error
}

func (m modFiles) ReadFile(name string) ([]byte, error) {
	if err := m.errs[name]; err != nil {
		return nil, err
	}
	if b, ok := m.files[name]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
}

// modState is a State for stepModules alone.
func modState(mods []string, files map[string][]byte, l ModuleLoader, log *bytes.Buffer) *State {
	return &State{
		Config: &config.Config{Modules: mods},
		sys:    Sys{Files: modFiles{files: files}, Modules: l, Clock: SystemClock{}},
		log:    slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func mp(rel string) string { return testModDir + "/" + rel }

func TestParseModulesDep(t *testing.T) {
	text := "# comment\nkernel/a.ko:\n\n  kernel/b.ko: kernel/a.ko /abs/c.ko \t kernel/x/../d.ko\n/abs/c.ko:\n"
	got, err := parseModulesDep(testModDir, text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		mp("kernel/a.ko"): {},
		mp("kernel/b.ko"): {mp("kernel/a.ko"), "/abs/c.ko", mp("kernel/d.ko")},
		"/abs/c.ko":       {},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"kernel/a.ko kernel/b.ko\n", ": kernel/a.ko\n", "kernel/a.ko:\nkernel/a.ko:\n",
		"kernel/a b.ko: x\n"} {
		if _, err := parseModulesDep(testModDir, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestModuleDeps(t *testing.T) {
	dep := []byte("kernel/a.ko:\nkernel/b.ko: kernel/a.ko\n")
	files := modFiles{files: map[string][]byte{testModDir + "/modules.dep": dep}}
	got, err := moduleDeps(files, []string{mp("kernel/a.ko")})
	if err != nil || !slices.Equal(got[mp("kernel/b.ko")], []string{mp("kernel/a.ko")}) {
		t.Errorf("moduleDeps = %q, %v", got, err)
	}
	if _, err := moduleDeps(files, []string{"/lib/modules/a.ko"}); !errors.Is(err, errNoDepFile) {
		t.Errorf("module outside /lib/modules/<release>: %v, want errNoDepFile", err)
	}
	if _, err := moduleDeps(modFiles{}, []string{mp("kernel/a.ko")}); !errors.Is(err, errNoDepFile) {
		t.Errorf("no file: %v, want errNoDepFile", err)
	}
	eio := errors.New("EIO")
	broken := modFiles{errs: map[string]error{testModDir + "/modules.dep": eio}}
	if _, err := moduleDeps(broken, []string{mp("kernel/a.ko")}); !errors.Is(err, eio) || errors.Is(err, errNoDepFile) {
		t.Errorf("unreadable file: %v, want the read error", err)
	}
}

func TestPlanModules(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko", "/m/c.ko", "/m/d.ko", "/m/e.ko"}
	deps := map[string][]string{
		"/m/a.ko": {},
		"/m/b.ko": {"/m/builtin.ko"},      // not in the list: no wait
		"/m/c.ko": {"/m/a.ko", "/m/a.ko"}, // once
		"/m/d.ko": {"/m/e.ko", "/m/b.ko"}, // e is later: list order decides
		// e has no entry: waits for everything before it
	}
	want := [][]int{nil, nil, {0}, {1}, {0, 1, 2, 3}}
	got := planModules(paths, deps).waits
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if got := planModules(paths, nil).waits; !slices.EqualFunc(got[:3], [][]int{nil, {0}, {0, 1}}, slices.Equal) {
		t.Errorf("without modules.dep waits = %v, want each on all before it", got)
	}
}

// TestStepModules runs the step on an image-like layout: modules.dep is
// read from the modules' directory and used, each load is logged, and a
// malformed modules.dep is reported and falls back to list order.
func TestStepModules(t *testing.T) {
	mods := []string{mp("kernel/a.ko"), mp("kernel/b.ko"), mp("kernel/c.ko")}
	files := map[string][]byte{testModDir + "/modules.dep": []byte("kernel/a.ko:\nkernel/b.ko:\nkernel/c.ko: kernel/a.ko\n")}
	var log bytes.Buffer
	g := &gatedLoader{}
	s := modState(mods, files, g, &log)
	if err := stepModules(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	for st := range numStages { // none is early: all in the background
		if err := s.awaitModules(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "module loaded"); n != 3 || strings.Contains(log.String(), "one after the other") {
		t.Errorf("log:\n%s\nwant 3 loads with modules.dep used", log.String())
	}
	files[testModDir+"/modules.dep"] = []byte("kernel/a.ko kernel/b.ko\n")
	log.Reset()
	g = &gatedLoader{}
	if err := stepModules(context.Background(), modState(mods, files, g, &log)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "level=WARN msg=\"modules load one after the other\"") {
		t.Errorf("malformed modules.dep not reported:\n%s", log.String())
	}
	if g.peak != 1 || len(g.log()) != 6 {
		t.Errorf("fallback loaded %v with peak %d, want all three one at a time", g.log(), g.peak)
	}
}

// TestModulesDepFromBuilder: the guest reads the modules.dep that cvmctl
// initramfs build writes (initramfs.Closure.DepFile) and waits for exactly
// what each module needs.
func TestModulesDepFromBuilder(t *testing.T) {
	const release = "6.1.0-9-amd64"
	dir := filepath.Join(t.TempDir(), release)
	m := func(name string, deps ...string) []byte { return initramfstest.Module(name, release, deps...) }
	initramfstest.WriteTree(t, dir, map[string][]byte{
		"kernel/fs/jbd2/jbd2.ko":        m("jbd2"),
		"kernel/lib/crc16.ko":           m("crc16"),
		"kernel/fs/ext4/ext4.ko":        m("ext4", "jbd2", "crc16"),
		"kernel/drivers/md/dm-mod.ko":   m("dm_mod"),
		"kernel/drivers/md/dm-crypt.ko": m("dm_crypt", "dm-mod"),
	})
	tree, err := initramfs.OpenModuleTree(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tree.Resolve([]string{"ext4", "dm_crypt"})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := c.DepFile()
	if !ok || path.Dir(f.Path) != testModDir {
		t.Fatalf("modules.dep at %s (%v), want in %s", f.Path, ok, testModDir)
	}
	deps, err := moduleDeps(modFiles{files: map[string][]byte{f.Path: f.Data}}, c.Paths())
	if err != nil {
		t.Fatal(err)
	}
	// Load order: jbd2, crc16, ext4, dm-mod, dm-crypt.
	want := [][]int{nil, nil, {0, 1}, nil, {3}}
	got := planModules(c.Paths(), deps).waits
	for i := range got {
		slices.Sort(got[i])
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("waits = %v, want %v (paths %v)", got, want, c.Paths())
	}
}

// FuzzParseModulesDep: any text parses or fails cleanly, and every path it
// returns is absolute and clean (planModules compares them with the
// config's clean paths).
func FuzzParseModulesDep(f *testing.F) {
	f.Add("kernel/a.ko:\nkernel/b.ko: kernel/a.ko /abs/c.ko\n# c\n")
	f.Add("a: b: c\n\n:\n")
	f.Fuzz(func(t *testing.T, text string) {
		deps, err := parseModulesDep(testModDir, text)
		if err != nil {
			return
		}
		for m, need := range deps {
			for _, p := range append([]string{m}, need...) {
				if !path.IsAbs(p) || path.Clean(p) != p {
					t.Fatalf("path %q not absolute and clean", p)
				}
			}
		}
	})
}
