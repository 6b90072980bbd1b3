package agent

import "context"

// stepLog attaches /dev/kmsg and /dev/console to the log handler. Neither
// is fatal: the console the kernel gave PID 1 stays in use when /dev/console
// cannot be opened, and the boot goes on without a kernel log. Opening the
// kernel log may turn its rate limit off (LogOpener.OpenKmsg); the
// switchroot step turns it back on (restoreKmsgLimit).
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
		s.kmsg = w
	}
	s.log.Info("cvminit starting", "pid1", true)
	return nil
}

// limitRestorer is a kernel log writer that turned the kernel's rate limit
// on writes to /dev/kmsg off and can put it back.
type limitRestorer interface{ RestoreLimit() error }

// restoreKmsgLimit puts the kernel log's rate limit back as the log step
// found it, so that the confidential OS gets the kernel's setting, not
// cvminit's. Best effort, as turning it off was.
func restoreKmsgLimit(s *State) {
	if r, ok := s.kmsg.(limitRestorer); ok {
		_ = r.RestoreLimit()
	}
}
