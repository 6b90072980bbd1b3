//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Commands are the binaries the e2e boots need, built from cmd/NAME.
func Commands() []string { return []string{"cvmctl", "keybroker", "snpemu", "cvminit"} }

// Binaries are the paths of the built commands.
type Binaries struct {
	Cvmctl, Keybroker, Snpemu, Cvminit string
}

// BuildBinaries builds Commands into out with the flags of the Makefile's
// build target (static, trimmed, no build id), so the e2e tests run the
// bytes `make build` ships, built from the current source. A command
// without source (cmd/NAME holds no .go file) is an ErrUnavailable error.
func BuildBinaries(ctx context.Context, t Tools, l Layout, out string) (Binaries, error) {
	pkgs := make([]string, 0, len(Commands()))
	for _, c := range Commands() {
		m, _ := filepath.Glob(filepath.Join(l.Root, "cmd", c, "*.go"))
		if len(m) == 0 {
			return Binaries{}, fmt.Errorf("%w: cmd/%s has no source yet", ErrUnavailable, c)
		}
		pkgs = append(pkgs, "./cmd/"+c)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Binaries{}, err
	}
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-tags", "nethttpomithttp2", "-ldflags=-s -w -buildid=",
		"-o", out + string(filepath.Separator)}, pkgs...)
	if _, err := runGo(ctx, t.Go, l.Root, args...); err != nil {
		return Binaries{}, err
	}
	bin := func(n string) string { return filepath.Join(out, n) }
	return Binaries{Cvmctl: bin("cvmctl"), Keybroker: bin("keybroker"), Snpemu: bin("snpemu"),
		Cvminit: bin("cvminit")}, nil
}

// runGo runs the go command with CGO disabled, as the Makefile does.
func runGo(ctx context.Context, goBin, dir string, args ...string) ([]byte, error) {
	return runToolEnv(ctx, dir, append(os.Environ(), "CGO_ENABLED=0"), goBin, args...)
}
