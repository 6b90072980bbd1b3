package agent

import (
	"context"
	"fmt"

	"github.com/cvminit/cvminit/agent/klog"
)

// stepSwitchRoot checks the new root, measures leave-initrd and closes the
// TPM, prints the OK status line, puts the kernel log's rate limit back
// (restoreKmsgLimit) and hands over to init. The OK line is
// printed once every precondition of switch_root holds (a failing
// measurement fails the boot before it); if switch_root still fails, the
// failure policy runs without a second final line.
func stepSwitchRoot(_ context.Context, s *State) error {
	if s.Key() != nil {
		s.WipeSecrets() // belt and braces: never hand over with a key in memory
	}
	root, init := s.opts.NewRoot, s.Config.Boot.Init
	if err := s.sys.Switcher.Check(root, init); err != nil {
		return fmt.Errorf("new root %s: %w", root, err)
	}
	if err := s.measure(leaveEvent()); err != nil {
		return err
	}
	if err := s.closeTPM(); err != nil {
		return err
	}
	logPeakMemory(s)
	total := s.sys.Clock.Now().Sub(s.started).Milliseconds()
	s.out.print(klog.Status{OK: true, Root: s.rootSource(), Init: init, TotalMS: total, TPM: s.TPMStatus})
	_ = flushBounded(s.opts.Log)
	restoreKmsgLimit(s)
	if err := s.sys.Switcher.SwitchRoot(root, init); err != nil {
		return fmt.Errorf("%w: switch_root to %s, init %s: %w", errAfterFinal, root, init, err)
	}
	return nil
}
