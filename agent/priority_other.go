//go:build !linux

package agent

// atLoadPriority runs f: off Linux there is no per-thread priority to set.
func atLoadPriority(f func() error) error { return f() }
