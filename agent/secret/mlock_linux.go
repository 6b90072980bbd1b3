package secret

import "golang.org/x/sys/unix"

// lock pins the pages holding b in RAM. Failure (no CAP_IPC_LOCK, a low
// RLIMIT_MEMLOCK) is tolerated: locking is a defence in depth, not a
// precondition. Pages are never unlocked, because another buffer may share
// them and mlock does not nest.
func lock(b []byte) {
	if len(b) == 0 {
		return
	}
	_ = unix.Mlock(b)
}
