//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a stopped process group has between SIGTERM and
// SIGKILL.
const stopGrace = 2 * time.Second

// Proc is a long-running helper (QEMU, snpemu, keybroker) started in its own
// process group, so that Stop reaches everything it started. The kernel
// also kills it when the test process dies (PR_SET_PDEATHSIG).
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// ProcIO are the standard streams of a Proc; nil means /dev/null.
type ProcIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// StartProc starts path with args.
func StartProc(path string, args []string, pio ProcIO) (*Proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pio.Stdin, pio.Stdout, pio.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p := &Proc{name: path, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error; valid after Done is closed.
func (p *Proc) Err() error { return p.err }

// Stop ends the process group: SIGTERM, then SIGKILL after a grace period.
// It waits for the process and is safe to call more than once.
func (p *Proc) Stop() {
	select {
	case <-p.done: // the group leader is reaped: its id may be reused
		return
	default:
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
	}
	p.Kill()
}

// Kill ends the process group at once and waits for the process.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *Proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// runTool runs a short command to completion and returns its stdout. The
// error carries the command name and the tail of its stderr.
func runTool(ctx context.Context, dir, path string, args ...string) ([]byte, error) {
	return runToolEnv(ctx, dir, nil, path, args...)
}

// runToolEnv is runTool with the environment env (nil: inherited).
func runToolEnv(ctx context.Context, dir string, env []string, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", path, firstArg(args), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes(), nil
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// tail returns at most the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// errGiveUp, wrapped by an error of waitFor's poll function, ends the wait
// at once.
var errGiveUp = errors.New("giving up")

// waitFor polls ok every 20 ms until it returns nil or an errGiveUp error,
// or ctx ends.
func waitFor(ctx context.Context, what string, ok func() error) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		err := ok()
		if err == nil {
			return nil
		}
		if errors.Is(err, errGiveUp) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
	}
}
