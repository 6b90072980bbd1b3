//go:build !linux

package secret

// lock is a no-op where memory locking is not wired up.
func lock([]byte) {}
