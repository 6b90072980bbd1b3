package agent

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// loadNice is the nice value of the background module loads: above the
// steps' (0). The modules are the boot's longest chain to switch_root,
// while the steps beside them mostly wait for the network, the broker and
// the disk; a load that sleeps (a driver probing its device, a module
// starting a kernel thread) then gets its CPU back at once instead of
// queueing behind the steps' threads. Measured under QEMU with 2 vCPUs
// against the lowest priority (nice 19): boots 3 to 8% shorter, the mount
// step's wait for ext4 80 to 160 ms shorter, the key step unchanged.
const loadNice = -10

// atLoadPriority runs f on an OS thread of its own at nice loadNice and
// returns its result. The kernel work done in f's system calls
// (finit_module verifying, linking and initialising a module) is charged
// to that thread. The thread is never handed back to the Go scheduler: it
// exits with the goroutine, and threads the runtime starts meanwhile come
// from its template thread, not from this one, so no other goroutine
// inherits the priority.
func atLoadPriority(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		// A failure (no CAP_SYS_NICE) only costs the priority, never the work.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), loadNice)
		done <- f()
	}()
	return <-done
}
