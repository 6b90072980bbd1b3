// Package agent is cvminit's boot pipeline: the table of named steps that
// take a confidential VM from PID 1 to switch_root (mount the pseudo file
// systems, open the logs, read the measured config, measure the boot into
// the TPM, load modules, bring up the network, attest, fetch the disk key,
// find, check and unlock the root disk, put dm-verity over it, mount it
// read-only with writable places in memory, wipe secrets, switch root), the
// State they fill in, and the one failure policy: wipe key material, print
// one FAIL status line with a stable code, flush, power off.
//
// The TPM measurements (agent/tpm's scheme, config.TPM) are made by the
// tpm step and, through State.measure, by the unlock, verity and
// switchroot steps; BootEvents lists a whole boot's for cvmctl.
//
// Hardware is reached only through the small interfaces in Sys; LinuxSys
// returns the real implementations (Linux only) and tests pass fakes.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// Defaults for Options.
const (
	DefaultCmdlinePath = "/proc/cmdline"
	DefaultNewRoot     = "/newroot"
	DefaultGrace       = 250 * time.Millisecond
	flushTimeout       = 2 * time.Second
)

// Options configure Run. Zero values are documented per field.
type Options struct {
	// Sys is the hardware. Required.
	Sys Sys
	// Log is the handler logs and status lines go through. Required.
	Log *klog.Handler
	// Level, when set, is adjusted to the configured log level.
	Level *slog.LevelVar
	// ConfigPath is the measured config; "" means config.Path.
	ConfigPath string
	// CmdlinePath is the kernel command line; "" means /proc/cmdline.
	CmdlinePath string
	// Environ is the environment PID 1 started with (os.Environ()): the
	// kernel passes words of the command line it does not know on as
	// variables. Any the Go runtime reads (GO*) fails the config step.
	Environ []string
	// NewRoot is where the root file system is mounted; "" means /newroot.
	NewRoot string
	// Deadline bounds the boot until the config is read (which then sets
	// boot.deadline); 0 means config.DefaultDeadline.
	Deadline time.Duration
	// Grace is how long a step may take to return after the deadline
	// before the boot fails without it; 0 means 250ms.
	Grace time.Duration
}

func (o Options) withDefaults() Options {
	if o.ConfigPath == "" {
		o.ConfigPath = config.Path
	}
	if o.CmdlinePath == "" {
		o.CmdlinePath = DefaultCmdlinePath
	}
	if o.NewRoot == "" {
		o.NewRoot = DefaultNewRoot
	}
	if o.Deadline <= 0 {
		o.Deadline = config.DefaultDeadline
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	return o
}

// Run boots: it runs Steps in order under one overall deadline. On success
// the last step execs the new init and Run does not return (with fake Sys
// it returns nil). On failure it applies the failure policy and returns a
// *BootError; in production Power does not return, so Run returning means
// that even powering off failed.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil || o.Sys.Clock == nil || o.Sys.Power == nil {
		return errors.New("agent: Options.Log, Sys.Clock and Sys.Power are required")
	}
	o = o.withDefaults()
	r := &runner{opts: o, clock: o.Sys.Clock, h: o.Log, log: slog.New(o.Log)}
	r.state = &State{sys: o.Sys, opts: o, log: r.log, out: &finalLine{h: o.Log}}
	return r.run(ctx, Steps())
}
