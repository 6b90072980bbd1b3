//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/cvminit/cvminit/initramfs"
)

// BaselinePackage is the baseline PID 1 the boot benchmark compares
// cvminit with (see its package comment for what it does and does not).
const BaselinePackage = "./hack/baseinit"

// maxImage bounds an uncompressed initramfs read back by ImageConfig.
const maxImage = 512 << 20

// BuildBaseline builds BaselinePackage into dir/baseinit with the flags of
// the Makefile's build target (static, trimmed, no build id).
func BuildBaseline(ctx context.Context, t Tools, l Layout, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "baseinit")
	_, err := runGo(ctx, t.Go, l.Root, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
		"-o", out, BaselinePackage)
	return out, err
}

// BaselineInitramfs writes to out the initramfs of the baseline: initBin
// as /init, and the config and kernel modules of the cvminit image ref,
// resolved again from the Debian kernel's tree with the initramfs package
// (so the same .ko files, loaded in the same order). It fails if that
// resolution does not give exactly the module list of ref's config.
func BaselineInitramfs(l Layout, ref, initBin, out string) error {
	cfgJSON, modules, err := ImageConfig(ref)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	if err := initramfs.CheckInit(bin); err != nil {
		return fmt.Errorf("%s: %w", initBin, err)
	}
	closure, err := sameModules(l, modules)
	if err != nil {
		return err
	}
	var img bytes.Buffer
	spec := initramfs.Spec{Init: bin, Config: cfgJSON, Modules: closure.Files()}
	if err := initramfs.Build(spec, &img); err != nil {
		return fmt.Errorf("building the baseline initramfs: %w", err)
	}
	return os.WriteFile(out, img.Bytes(), 0o644)
}

// sameModules resolves the modules named by paths in the kernel's tree and
// checks that the closure is exactly paths, in order.
func sameModules(l Layout, paths []string) (initramfs.Closure, error) {
	tree, err := initramfs.OpenModuleTree(l.ModulesDir(), l.KernelRelease)
	if err != nil {
		return initramfs.Closure{}, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(path.Base(p), ".ko")
	}
	closure, err := tree.Resolve(names)
	if err != nil {
		return initramfs.Closure{}, err
	}
	if got := closure.Paths(); !slices.Equal(got, paths) {
		return initramfs.Closure{}, fmt.Errorf("baseline modules %v differ from cvminit's %v", got, paths)
	}
	return closure, nil
}

// ImageConfig reads the config baked into an initramfs (any compression
// cvmctl initramfs build writes)
// (initramfs.ConfigPath) and returns it with its module list.
func ImageConfig(image string) ([]byte, []string, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := initramfs.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", image, err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, maxImage))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", image, err)
	}
	cfg, err := cpioFile(raw, strings.TrimPrefix(initramfs.ConfigPath, "/"))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", image, err)
	}
	mods, err := configModules(cfg)
	return cfg, mods, err
}

// cpioFile returns the content of the regular file name in a newc archive.
func cpioFile(archive []byte, name string) ([]byte, error) {
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(archive)))
	if err != nil {
		return nil, fmt.Errorf("reading cpio: %w", err)
	}
	for _, r := range recs {
		if r.Name == name && r.ReaderAt != nil {
			return io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		}
	}
	return nil, fmt.Errorf("no %s in the archive", name)
}

// configModules reads the module list of a cvminit config.
func configModules(cfg []byte) ([]string, error) {
	var c struct {
		Modules []string `json:"modules"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("decoding the image's config: %w", err)
	}
	if len(c.Modules) == 0 {
		return nil, errors.New("the image's config lists no modules")
	}
	return c.Modules, nil
}
