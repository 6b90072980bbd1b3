//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// Host faults of issue 8.
const (
	// smallMemMiB is the least RAM the boots give a VM that must boot
	// (MemTotal about 203 MiB with the Debian kernel).
	smallMemMiB = 256
	// lowMemMiB is below boot.min_memory_mib's default (MemTotal about
	// 78 MiB) but enough for the kernel to start cvminit (cvminit itself
	// finished a boot there before the memory check existed).
	lowMemMiB = 128
	// plugDelay is how long after the guest got its key the host plugs
	// the root disk in.
	plugDelay = 3 * time.Second
)

// TestHostFaults boots under what a host can do to the VM besides the
// broker and the disk's contents: too little memory, a root disk plugged
// in late or never. The 256 MiB boot also dumps what the confidential OS
// sees and checks the disk key is in none of it.
func TestHostFaults(t *testing.T) {
	e := requireEnv(t)
	t.Run("SmallMemoryCanary", func(t *testing.T) { testSmallMemory(t, e) })
	t.Run("MemoryLow", func(t *testing.T) { testMemoryLow(t, e) })
	t.Run("DiskPluggedLate", func(t *testing.T) { testDiskPluggedLate(t, e) })
	t.Run("DiskNeverAttached", func(t *testing.T) { testDiskNeverAttached(t, e) })
}

// kmsgValue returns the number after key= in the first serial line that
// has it.
func kmsgValue(t *testing.T, r *Result, key string) int64 {
	t.Helper()
	m := regexp.MustCompile(`\b` + key + `=([0-9]+)\b`).FindSubmatch(r.Raw)
	if m == nil {
		t.Fatalf("no %s= on the serial console", key)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// testSmallMemory boots with 256 MiB: the whole happy path, the memory
// check passing with the MemTotal it logged, and no trace of the disk
// key in what the confidential OS sees (with every cvminit log line kept,
// debug lines included).
func testSmallMemory(t *testing.T, e *Env) {
	e = verboseEnv(t, e)
	r := boot(t, e, "mem256", BootOptions{MemMiB: smallMemMiB})
	wantOK(t, r)
	wantOSUp(t, e, r)
	wantBlob(t, r, true)
	total := kmsgValue(t, r, "memtotal_kib")
	if total >= smallMemMiB<<10 || total < config.DefaultMinMemoryMiB<<10 {
		t.Errorf("memtotal_kib=%d, want below %d MiB and at least the default minimum %d MiB", total,
			smallMemMiB, config.DefaultMinMemoryMiB)
	}
	t.Logf("%d MiB of RAM: MemTotal %d kB, cvminit's peak RSS %d kB", smallMemMiB, total,
		kmsgValue(t, r, "vmhwm_kib"))
	wantNoCanary(t, e, r)
}

// testMemoryLow boots with less memory than the minimum: one clear
// MEMORY_LOW status line from the memory step, nothing after it, and a
// single kernel boot that ends in a power off (no out-of-memory panic, no
// reboot loop).
func testMemoryLow(t *testing.T, e *Env) {
	r := boot(t, e, "mem-low", BootOptions{MemMiB: lowMemMiB})
	st, _ := wantFail(t, r, klog.CodeMemoryLow, "memory")
	wantNoOS(t, e, r)
	min := fmt.Sprintf("minimum of %d MiB", config.DefaultMinMemoryMiB)
	if !strings.Contains(st.Hint, "MemTotal ") || !strings.Contains(st.Hint, min) {
		t.Errorf("hint %q does not name MemTotal and the %s", st.Hint, min)
	}
	if n := bytes.Count(r.Raw, []byte("Linux version ")); n != 1 {
		t.Errorf("%d kernel boots in the serial log, want 1", n)
	}
	for _, s := range []string{"Kernel panic", "Out of memory", "invoked oom-killer"} {
		if bytes.Contains(r.Raw, []byte(s)) {
			t.Errorf("serial log contains %q", s)
		}
	}
	if !bytes.Contains(r.Raw, []byte("reboot: Power down")) {
		t.Errorf("the kernel did not power down")
	}
	t.Logf("%d MiB of RAM: %s", lowMemMiB, st.Hint)
}

// stepsTotal is the sum of the step times cvminit printed.
func stepsTotal(r *Result) time.Duration {
	var total time.Duration
	for _, s := range Steps(r.Lines) {
		total += time.Duration(s.MS) * time.Millisecond
	}
	return total
}

// plug is when the host saw the guest's key step end and when it plugged
// the root disk in.
type plug struct {
	Key, Plugged time.Time
	Err          error
}

// plugLate plugs disk (read-only: the guest only reads its root) into the
// VM whose QMP socket is sock, delay after a time arrives on key; it gives
// up when ctx ends.
func plugLate(ctx context.Context, sock, disk string, key <-chan time.Time, delay time.Duration) plug {
	q, err := DialQMP(ctx, sock)
	if err != nil {
		return plug{Err: err}
	}
	defer q.Close()
	var p plug
	select {
	case p.Key = <-key:
	case <-ctx.Done():
		return plug{Err: fmt.Errorf("no key step line: %w", ctx.Err())}
	}
	timer := time.NewTimer(time.Until(p.Key.Add(delay)))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return plug{Err: ctx.Err()}
	}
	p.Err = q.PlugDisk(ctx, HotplugPort, "root", disk, true)
	p.Plugged = time.Now()
	return p
}

// keyStepEnded sends the time to c when l is the key step's ok line.
func keyStepEnded(c chan<- time.Time) func(Line) {
	return func(l Line) {
		if s, ok := klog.ParseStep(l.Text); ok && s.Name == "key" && s.Status == klog.StepOK {
			select {
			case c <- time.Now():
			default:
			}
		}
	}
}

// testDiskPluggedLate boots with no disk and plugs the sealed disk in
// plugDelay after the guest got its key: the disk step waits for it (it
// takes about as long as the plug was delayed) and the boot completes
// within the deadline.
func testDiskPluggedLate(t *testing.T, e *Env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key, done := make(chan time.Time, 1), make(chan plug, 1)
	go func() { done <- plugLate(ctx, QMPSocket(e.path("boots/plug-late")), e.Disk, key, plugDelay) }()
	r := boot(t, e, "plug-late", BootOptions{NoDisk: true, QMP: true, OnLine: keyStepEnded(key)})
	cancel()
	p := <-done
	if p.Err != nil {
		t.Fatalf("hot-plug: %v", p.Err)
	}
	wantOK(t, r)
	wantOSUp(t, e, r)
	st, _ := stepResult(r, "disk")
	waited, delay := time.Duration(st.MS)*time.Millisecond, p.Plugged.Sub(p.Key)
	if waited < delay-500*time.Millisecond || waited > delay+5*time.Second {
		t.Errorf("disk step took %v with the disk plugged %v after the key step, want about as long", waited, delay)
	}
	if total := stepsTotal(r); total > e.Opts.Deadline {
		t.Errorf("steps took %v, beyond boot.deadline %v", total, e.Opts.Deadline)
	}
	t.Logf("disk plugged %v after the key step; disk step %v", delay.Round(time.Millisecond), waited)
}

// testDiskNeverAttached boots with no disk at all: DISK_NOT_FOUND from the
// disk step within boot.deadline, then power off.
func testDiskNeverAttached(t *testing.T, e *Env) {
	v, err := e.Repin(context.Background(), "initramfs-hostfaults-deadline", func(g *Guest) {
		g.Deadline, g.KeyTimeout = plainDeadline, plainKeyTimeout
	})
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, v, "never-attached", BootOptions{NoDisk: true})
	_, line := wantFail(t, r, klog.CodeDiskNotFound, "disk")
	wantNoOS(t, v, r)
	total := stepsTotal(r)
	if lim := v.Opts.Deadline + 2*time.Second; total > lim {
		t.Errorf("steps took %v, want at most %v (boot.deadline %v)", total, lim, v.Opts.Deadline)
	}
	if d := r.Elapsed - line.At; d > 10*time.Second {
		t.Errorf("guest powered off %v after its status line, want within 10s", d)
	}
	st, _ := stepResult(r, "disk")
	t.Logf("no disk: DISK_NOT_FOUND after %v of steps (disk step %d ms), boot.deadline %v", total, st.MS,
		v.Opts.Deadline)
}
