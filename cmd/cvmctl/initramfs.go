package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/initramfs"
)

const initramfsUsage = `usage: cvmctl initramfs build --config cvminit.yaml --init cvminit
         --modules-dir lib/modules/RELEASE --output initramfs.img
         [--kernel-release RELEASE] [--module NAME]... [--compress zstd|xz|gzip]
         [--debug [--debug-tools DIR]]

Validates the operator config, resolves the kernel modules cvminit loads (the
defaults for the config's root file system plus --module, with their
dependencies), writes the reproducible compressed cpio and prints
"PATH size=BYTES sha256=HEX modules=N".
A debug image (--debug) has its own digest; --debug-tools adds every regular
file of DIR (static executables, e.g. make debug-tools) as /bin/NAME.

flags:`

// initramfsArgs are the flags of cvmctl initramfs build.
type initramfsArgs struct {
	config, init, modulesDir, release, output string
	debugTools, luksUUID                      string
	extra                                     []string
	debug                                     bool
	compress                                  initramfs.Compression
}

func newInitramfsFlags(a *initramfsArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl initramfs build", flag.ContinueOnError)
	fs.StringVar(&a.config, "config", "", "operator config, YAML (required)")
	fs.StringVar(&a.init, "init", "", "static cvminit binary to run as /init (required)")
	fs.StringVar(&a.modulesDir, "modules-dir", "", "unpacked lib/modules/RELEASE directory of the guest kernel (required)")
	fs.StringVar(&a.release, "kernel-release", "", "kernel release (default: base name of --modules-dir)")
	fs.StringVar(&a.output, "output", "", "image file to write (required)")
	fs.StringVar(&a.luksUUID, "luks-uuid", "", "set disk.luks_uuid (e.g. from cvmctl seal's manifest), overriding the config's")
	fs.Func("module", "extra kernel module to load, with its dependencies (repeatable)", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("empty module name")
		}
		a.extra = append(a.extra, s)
		return nil
	})
	a.compress = initramfs.DefaultCompression
	fs.Func("compress", "compression the kernel unpacks: zstd (default), xz or gzip", func(s string) error {
		c, err := initramfs.ParseCompression(s)
		a.compress = c
		return err
	})
	fs.BoolVar(&a.debug, "debug", false, "debug image: debug logging, serial shell after a failure (own digest)")
	fs.StringVar(&a.debugTools, "debug-tools", "", "with --debug: directory of static tools to add as /bin/NAME")
	return fs
}

// runInitramfs implements cvmctl initramfs; args start after "initramfs".
func runInitramfs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprintln(stderr, "cvmctl initramfs: want the sub-command build (cvmctl initramfs build --help)")
		return 2
	}
	a := &initramfsArgs{}
	done, err := parseFlags(newInitramfsFlags(a), args[1:], initramfsUsage, stderr)
	if done || err != nil {
		return initramfsFail(stderr, err)
	}
	res, err := a.run()
	if err != nil {
		return initramfsFail(stderr, err)
	}
	if len(res.builtin) > 0 {
		fmt.Fprintf(stderr, "cvmctl initramfs build: built into the kernel, not shipped: %s\n", strings.Join(res.builtin, " "))
	}
	fmt.Fprintf(stdout, "%s size=%d sha256=%s modules=%d\n", a.output, res.size, res.sha256, res.modules)
	return 0
}

func initramfsFail(stderr io.Writer, err error) int {
	return exitWith(stderr, "cvmctl initramfs build", err)
}

// buildResult is what cvmctl initramfs build reports.
type buildResult struct {
	size    int64
	sha256  string
	modules int
	builtin []string
}

// run reads and checks the inputs, builds the image and writes it.
func (a *initramfsArgs) run() (buildResult, error) {
	required := []struct{ flag, val string }{
		{"config", a.config}, {"init", a.init}, {"modules-dir", a.modulesDir}, {"output", a.output},
	}
	for _, r := range required {
		if r.val == "" {
			return buildResult{}, usagef("missing --%s", r.flag)
		}
	}
	if a.debugTools != "" && !a.debug {
		return buildResult{}, usagef("--debug-tools needs --debug: production images carry no tools")
	}
	cfg, err := readConfig(a.config, a.luksUUID)
	if err != nil {
		return buildResult{}, err
	}
	initBin, err := os.ReadFile(a.init)
	if err != nil {
		return buildResult{}, fmt.Errorf("reading init: %w", err)
	}
	if err := initramfs.CheckInit(initBin); err != nil {
		return buildResult{}, fmt.Errorf("%s: %w", a.init, err)
	}
	tools, err := readDebugTools(a.debugTools)
	if err != nil {
		return buildResult{}, err
	}
	closure, err := a.resolve(cfg)
	if err != nil {
		return buildResult{}, err
	}
	cfgJSON, err := finishConfig(cfg, closure.Paths(), a.debug)
	if err != nil {
		return buildResult{}, err
	}
	spec := initramfs.Spec{Init: initBin, Config: cfgJSON, Modules: closure.Files(), Extra: tools, Compression: a.compress}
	res, err := writeImage(a.output, spec)
	res.modules, res.builtin = len(closure.Modules), closure.Builtin
	return res, err
}

// readConfig parses and validates the operator's YAML. The module list is
// computed here, so the operator may not set it.
func readConfig(file, luksUUID string) (*config.Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := config.ParseYAMLWith(b, func(c *config.Config) {
		if luksUUID != "" {
			c.Disk.LUKSUUID = luksUUID
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(cfg.Modules) > 0 {
		return nil, fmt.Errorf("%s: modules is computed by initramfs build; use --module NAME for extra modules", file)
	}
	return cfg, nil
}

// resolve computes the module closure: the defaults plus --module, less
// what the config cannot use. The emulated provider does not use
// /dev/sev-guest, and the sev-guest module refuses to load (ENODEV) in a
// VM without SEV-SNP, so it is left out there; of the root file systems
// only disk.fstype's module is shipped.
func (a *initramfsArgs) resolve(cfg *config.Config) (initramfs.Closure, error) {
	tree, err := initramfs.OpenModuleTree(a.modulesDir, a.release)
	if err != nil {
		return initramfs.Closure{}, err
	}
	unused := map[string]bool{"ext4": cfg.Disk.FSType != "ext4", "erofs": cfg.Disk.FSType != "erofs",
		"sev_guest": cfg.Attestation.Provider == "emulated"}
	wanted := slices.DeleteFunc(initramfs.DefaultModules(), func(m string) bool { return unused[m] })
	return tree.Resolve(append(wanted, a.extra...))
}

// finishConfig records the module load order and the debug settings, checks
// the result again and renders the JSON baked into the image.
func finishConfig(cfg *config.Config, modules []string, debug bool) ([]byte, error) {
	cfg.Modules = modules
	if debug {
		cfg.Debug = true
		cfg.Boot.DebugShellAfterFailure = true
		cfg.Log.Level = "debug"
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("final config: %w", err)
	}
	return cfg.JSON()
}

// writeImage builds the image into a temporary file next to out and renames
// it into place, so out is either the old file or the complete new one.
func writeImage(out string, spec initramfs.Spec) (res buildResult, err error) {
	f, err := os.CreateTemp(filepath.Dir(out), ".initramfs-*.tmp")
	if err != nil {
		return res, fmt.Errorf("creating output: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err = initramfs.Build(spec, cw); err != nil {
		return res, err
	}
	if err = f.Chmod(0o644); err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), out)
	}
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", out, err)
	}
	return buildResult{size: cw.n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
