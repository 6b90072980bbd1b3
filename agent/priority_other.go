//go:build !linux

package agent

// atLowPriority runs f: off Linux there is no per-thread priority to lower.
func atLowPriority(f func() error) error { return f() }
