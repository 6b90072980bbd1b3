package agent

import "context"

// stepLog attaches /dev/kmsg and /dev/console to the log handler. Neither
// is fatal: the console the kernel gave PID 1 stays in use when /dev/console
// cannot be opened, and the boot goes on without a kernel log.
func stepLog(_ context.Context, s *State) error {
	if w, err := s.sys.Logs.OpenConsole(); err != nil {
		s.log.Warn("console unavailable; keeping the inherited one", "err", err)
	} else {
		s.opts.Log.SetConsole(w)
	}
	if w, err := s.sys.Logs.OpenKmsg(); err != nil {
		s.log.Warn("kernel log unavailable", "err", err)
	} else {
		s.opts.Log.SetKmsg(w)
	}
	s.log.Info("cvminit starting", "pid1", true)
	return nil
}
