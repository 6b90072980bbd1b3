package agent

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// threadNice is the nice value of the calling OS thread.
func threadNice(t *testing.T) int {
	t.Helper()
	// getpriority returns 20 - nice for PRIO_PROCESS (to keep it positive).
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

func TestAtLowPriorityRunsNicedAndLeavesCallerAlone(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	var inside int
	var insideTID int
	err := atLowPriority(func() error {
		inside, insideTID = threadNice(t), unix.Gettid()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != backgroundNice {
		t.Errorf("nice inside f = %d, want %d", inside, backgroundNice)
	}
	if insideTID == unix.Gettid() {
		t.Error("f ran on the caller's thread")
	}
	if after := threadNice(t); after != before {
		t.Errorf("caller's nice changed from %d to %d", before, after)
	}
}

func TestAtLowPriorityReturnsFsError(t *testing.T) {
	if err := atLowPriority(func() error { return ErrModules }); err != ErrModules {
		t.Errorf("err = %v, want %v", err, ErrModules)
	}
}
