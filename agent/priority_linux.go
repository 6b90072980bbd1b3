package agent

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// backgroundNice is the nice value of background work: the lowest CPU
// priority, so that it only takes the CPU time the boot's critical path
// leaves idle.
const backgroundNice = 19

// atLowPriority runs f on an OS thread of its own at nice backgroundNice
// and returns its result. The kernel work done in f's system calls
// (finit_module verifying and linking a module) is charged to that thread,
// so under CPU contention it yields to the steps on the critical path
// instead of sharing the CPUs with them evenly. The thread is never handed
// back to the Go scheduler: it exits with the goroutine, and threads the
// runtime starts meanwhile come from its template thread, not from this
// one, so no other goroutine inherits the priority.
func atLowPriority(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		// A failure only costs the priority, never the work.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), backgroundNice)
		done <- f()
	}()
	return <-done
}
