package agent

import (
	"os"
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

func TestAtLoadPriorityRunsNicedAndLeavesCallerAlone(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	var inside int
	var insideTID int
	err := atLoadPriority(func() error {
		inside, insideTID = threadNice(t), unix.Gettid()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := loadNice
	if os.Geteuid() != 0 { // raising a priority takes CAP_SYS_NICE: f runs all the same, at the caller's
		want = before
	}
	if inside != want {
		t.Errorf("nice inside f = %d, want %d", inside, want)
	}
	if insideTID == unix.Gettid() {
		t.Error("f ran on the caller's thread")
	}
	if after := threadNice(t); after != before {
		t.Errorf("caller's nice changed from %d to %d", before, after)
	}
}

func TestAtLoadPriorityReturnsFsError(t *testing.T) {
	if err := atLoadPriority(func() error { return ErrModules }); err != ErrModules {
		t.Errorf("err = %v, want %v", err, ErrModules)
	}
}
