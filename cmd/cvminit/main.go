// Command cvminit is the confidential VM's PID 1. It wires the real Linux
// implementations into agent.Run, which mounts the pseudo file systems,
// reads the measured config, attests to the key broker, unlocks the LUKS2
// root disk and switches root into it, or fails with one status line and
// powers off. It takes no flags and reads no input: everything it does is
// decided by the measured image (DESIGN.md §4, SECURITY.md H8).
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/cvminit/cvminit/agent"
	"github.com/cvminit/cvminit/agent/klog"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "cvminit: refusing to run: not PID 1 (it mounts file systems and powers the machine off)")
		os.Exit(2)
	}
	// Before anything is printed: the host's keystrokes are neither echoed
	// nor read. A console without termios (none at all) is no risk to ignore.
	_ = agent.QuietConsole(os.Stdin)
	// Keystrokes echoed before that leave the cursor mid-line: end that line
	// so that the first status line starts a line of its own.
	_, _ = os.Stdout.WriteString("\n")
	var level slog.LevelVar
	h := klog.New(klog.Options{Console: agent.NewConsole(os.Stdout), Level: &level})
	// Libraries that use the standard logger (u-root) log at debug level.
	log.SetFlags(0)
	log.SetOutput(slog.NewLogLogger(h, slog.LevelDebug).Writer())
	err := agent.Run(context.Background(), agent.Options{Sys: agent.LinuxSys(), Log: h, Level: &level, Environ: os.Environ()})
	// Reached only if even powering off failed. Exiting makes the kernel
	// panic ("Attempted to kill init"), which halts or reboots per panic=.
	slog.New(h).Error("cvminit: could not power off; exiting", "err", err)
	_ = h.Flush()
	os.Exit(1)
}
