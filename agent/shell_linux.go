package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// debugShellBanner is the one line printed on the console before a debug
// image's shell starts.
const debugShellBanner = "cvminit: debug image: shell on the console after failure"

// Where a debug image's tools are (cvmctl initramfs build --debug-tools puts
// them in /bin); production images have neither.
const (
	debugShellPath     = "/bin/gosh"
	debugShellFallback = "/bin/sh"
	debugShellEnvPath  = "PATH=/bin"
)

// consoleShell runs the first shell of paths that exists on the console.
// It is Sys.DebugShell in LinuxSys; the runner calls it only after the
// failure was reported and only when the measured config is a debug image's
// that allows it (runner.debugShell). When the shell exits the failure
// policy goes on and powers the machine off.
type consoleShell struct {
	console string
	paths   []string
}

func linuxDebugShell() consoleShell {
	return consoleShell{console: "/dev/console", paths: []string{debugShellPath, debugShellFallback}}
}

// run restores an interactive console, drops the input typed so far, prints
// debugShellBanner and runs the shell as a session leader with the console
// as its controlling terminal, until it exits.
func (s consoleShell) run(ctx context.Context) error {
	sh, err := s.find()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.console, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("debug shell: opening the console: %w", err)
	}
	defer f.Close()
	if err := interactiveConsole(f); err != nil {
		return fmt.Errorf("debug shell: %w", err)
	}
	if _, err := fmt.Fprintln(f, debugShellBanner); err != nil {
		return fmt.Errorf("debug shell: writing to the console: %w", err)
	}
	cmd := exec.CommandContext(ctx, sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Dir = "/"
	cmd.Env = []string{debugShellEnvPath, "HOME=/", "TERM=linux"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debug shell %s: %w", sh, err)
	}
	return nil
}

// find returns the first of s.paths that is an executable regular file.
func (s consoleShell) find() (string, error) {
	for _, p := range s.paths {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("debug shell: %w", err)
		}
	}
	return "", fmt.Errorf("%w: none of %v", ErrNoDebugShell, s.paths)
}

// interactiveConsole undoes QuietConsole (echo, line editing, signal keys,
// as a terminal starts) and discards the input typed before the shell.
func interactiveConsole(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("console termios: %w", err)
	}
	t.Lflag |= unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ICANON | unix.ISIG | unix.IEXTEN
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("console termios: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH); err != nil {
		return fmt.Errorf("console flush: %w", err)
	}
	return nil
}
