//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// setupTimeout bounds building the shared Env (a cold Go build cache
// dominates).
const setupTimeout = 10 * time.Minute

// shared is the Env every boot test uses, built once per test binary run
// by the first test that needs it.
var shared struct {
	once sync.Once
	work string
	env  *Env
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.work != "" {
		if code != 0 || os.Getenv("E2E_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "e2e: work directory kept: %s\n", shared.work)
		} else {
			os.RemoveAll(shared.work)
		}
	}
	os.Exit(code)
}

// inCI reports whether missing prerequisites must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// unavailable ends t for err: a skip when err is ErrUnavailable outside CI
// (the machine is not prepared), a failure otherwise.
func unavailable(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && !inCI() {
		t.Skipf("e2e: %v (with CI=true this is a failure)", err)
	}
	t.Fatalf("e2e: %v", err)
}

// requireTools returns the host tools or ends t (see unavailable).
func requireTools(t *testing.T) Tools {
	t.Helper()
	tools, err := FindTools()
	if err != nil {
		unavailable(t, err)
	}
	return tools
}

// requireEnv returns the shared Env, building it on first use, or ends t
// (see unavailable). Outside CI, -short skips the boots.
func requireEnv(t *testing.T) *Env {
	t.Helper()
	if testing.Short() && !inCI() {
		t.Skip("e2e: QEMU boots skipped in -short mode")
	}
	shared.once.Do(func() { shared.env, shared.err = setupEnv(t) })
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.env
}

func setupEnv(t testing.TB) (*Env, error) {
	work, err := os.MkdirTemp("", "cvminit-e2e-")
	if err != nil {
		return nil, err
	}
	shared.work = work
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	// E2E_OVMF=1 boots stock OVMF instead of SeaBIOS; E2E_CMDLINE replaces
	// the kernel command line (e.g. to add cvminit.log=debug).
	opts := EnvOptions{Work: work, OVMF: os.Getenv("E2E_OVMF") != "", Cmdline: os.Getenv("E2E_CMDLINE")}
	env, err := NewEnv(ctx, ".", opts)
	if errors.Is(err, ErrUnavailable) { // nothing worth keeping was built
		os.RemoveAll(work)
		shared.work = ""
	}
	if err != nil {
		return nil, err
	}
	stages := make([]string, len(env.Stages)) // one line: a benchmark's log keeps only ten
	for i, st := range env.Stages {
		stages[i] = fmt.Sprintf("%s %v", st.Name, st.Took.Round(time.Millisecond))
	}
	t.Logf("e2e setup: %s", strings.Join(stages, ", "))
	return env, nil
}
