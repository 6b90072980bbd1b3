package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/klog"
)

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"/lib/modules/r/kernel/drivers/md/dm-crypt.ko.xz":       "dm_crypt",
		"/lib/modules/r/kernel/drivers/virt/sev-guest.ko":       "sev_guest",
		"/lib/modules/r/kernel/drivers/net/virtio_net.ko.zst":   "virtio_net",
		"/lib/modules/r/kernel/drivers/virtio/virtio_pci.ko.gz": "virtio_pci",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSplitModules: the picked plan holds the seeds and everything they
// wait for, in list order; the rest the others, renumbered, their waits on
// picked modules dropped.
func TestSplitModules(t *testing.T) {
	paths := []string{"/m/virtio.ko", "/m/dm-mod.ko", "/m/virtio_pci.ko", "/m/dm-crypt.ko", "/m/virtio_blk.ko", "/m/virtio_net.ko"}
	deps := map[string][]string{
		"/m/virtio.ko": {}, "/m/dm-mod.ko": {}, "/m/virtio_pci.ko": {"/m/virtio.ko"},
		"/m/dm-crypt.ko": {"/m/dm-mod.ko"}, "/m/virtio_blk.ko": {"/m/virtio.ko"}, "/m/virtio_net.ko": {"/m/virtio.ko"},
	}
	early, late := splitModules(planModules(paths, deps), func(n string) bool { return slices.Contains(earlyModules(), n) })
	if want := []string{"/m/virtio.ko", "/m/virtio_pci.ko", "/m/virtio_net.ko"}; !slices.Equal(early.paths, want) {
		t.Errorf("early = %v, want %v", early.paths, want)
	}
	if want := [][]int{nil, {0}, {0}}; !slices.EqualFunc(early.waits, want, slices.Equal) {
		t.Errorf("early waits = %v, want %v", early.waits, want)
	}
	if want := []string{"/m/dm-mod.ko", "/m/dm-crypt.ko", "/m/virtio_blk.ko"}; !slices.Equal(late.paths, want) {
		t.Errorf("late = %v, want %v", late.paths, want)
	}
	if want := [][]int{nil, {0}, nil}; !slices.EqualFunc(late.waits, want, slices.Equal) {
		t.Errorf("late waits = %v, want %v (virtio_blk's wait on virtio is early)", late.waits, want)
	}
}

// TestModuleStages: after the early modules, the disk driver loads in the
// first background stage, device-mapper with its targets in the second
// (with crc16, which ext4 needs too), the root file system's and overlay's
// in the third; each stage's wait returns while the next is still loading,
// and a failure in the last reaches the mount step's wait as
// MODULES_FAILED.
func TestModuleStages(t *testing.T) {
	mods := []string{mp("k/virtio.ko"), mp("k/virtio_pci.ko"), mp("k/crc16.ko"), mp("k/mbcache.ko"),
		mp("k/virtio_blk.ko"), mp("k/dm-mod.ko"), mp("k/dm-crypt.ko"), mp("k/ext4.ko"), mp("k/overlay.ko")}
	dep := "k/virtio.ko:\nk/virtio_pci.ko: k/virtio.ko\nk/crc16.ko:\nk/mbcache.ko:\nk/virtio_blk.ko: k/virtio.ko\n" +
		"k/dm-mod.ko:\nk/dm-crypt.ko: k/dm-mod.ko k/crc16.ko\nk/ext4.ko: k/crc16.ko k/mbcache.ko\nk/overlay.ko:\n"
	crypt, ext4 := make(chan struct{}), make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{mods[6]: crypt, mods[7]: ext4},
		fail: map[string]error{mods[7]: errors.New("ENOEXEC")}}
	var log bytes.Buffer
	s := modState(mods, map[string][]byte{testModDir + "/modules.dep": []byte(dep)}, g, &log)
	s.Config.Disk.FSType = "ext4"
	if err := stepModules(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	stages := []struct {
		st            moduleStage
		loaded, later []string // this stage's modules; the later stages'
		open          chan struct{}
	}{
		{stageDisk, []string{mods[4]}, []string{mods[2], mods[3], mods[5], mods[6], mods[7], mods[8]}, crypt},
		{stageCrypt, []string{mods[2], mods[5], mods[6]}, []string{mods[3], mods[7], mods[8]}, ext4},
	}
	for _, st := range stages {
		if err := s.awaitModules(context.Background(), st.st); err != nil {
			t.Fatalf("%s stage: %v", st.st, err)
		}
		ev := g.log()
		last := 0
		for _, m := range st.loaded {
			last = max(last, slices.Index(ev, "end "+m))
			if !slices.Contains(ev, "end "+m) {
				t.Errorf("after the %s stage: %v; want %s loaded", st.st, ev, m)
			}
		}
		for _, m := range st.later {
			if i := slices.Index(ev, "start "+m); i >= 0 && i < last {
				t.Errorf("loads: %v; want %s started only after the %s stage", ev, m, st.st)
			}
		}
		if slices.Contains(ev, "end "+mods[6]) != (st.st == stageCrypt) || slices.Contains(ev, "end "+mods[7]) {
			t.Errorf("after the %s stage: %v; want the next stage's gated module still loading", st.st, ev)
		}
		close(st.open)
	}
	err := s.awaitModules(context.Background(), stageRoot)
	if !errors.Is(err, ErrModules) || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Fatalf("root stage = %v, want ErrModules with ext4's error", err)
	}
}

// TestLateModuleFailure: a module failing in the background fails the
// disk step, which waits for it, as MODULES_FAILED; the early modules were
// loaded within the modules step.
func TestLateModuleFailure(t *testing.T) {
	mods := []string{mp("kernel/virtio_pci.ko"), mp("kernel/dm-mod.ko")}
	files := map[string][]byte{testModDir + "/modules.dep": []byte("kernel/virtio_pci.ko:\nkernel/dm-mod.ko:\n")}
	gate := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{mods[1]: gate}, fail: map[string]error{mods[1]: errors.New("ENOEXEC")}}
	var log bytes.Buffer
	s := modState(mods, files, g, &log)
	if err := stepModules(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if ev := g.log(); !slices.Contains(ev, "end "+mods[0]) || slices.Contains(ev, "end "+mods[1]) {
		t.Errorf("after the step: %v; want virtio_pci loaded, dm-mod still loading", ev)
	}
	close(gate)
	err := s.awaitModules(context.Background(), stageDisk)
	if !errors.Is(err, ErrModules) || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Fatalf("awaitModules = %v, want ErrModules with the load error", err)
	}
	if c := classify(err, klog.CodeDiskNotFound); c != klog.CodeModulesFailed {
		t.Errorf("classified %s, want %s", c, klog.CodeModulesFailed)
	}
	if err := s.awaitModules(context.Background(), stageDisk); !errors.Is(err, ErrModules) {
		t.Errorf("second wait = %v, want ErrModules again (every waiter sees it)", err)
	}
	if err := s.awaitModules(context.Background(), stageRoot); !errors.Is(err, ErrModules) {
		t.Errorf("root stage after a failed disk stage = %v, want ErrModules", err)
	}
}

// TestBackgroundLeavesACPU: independent modules loading in the background
// never take every CPU: one load at a time fewer than there are CPUs (at
// least one).
func TestBackgroundLeavesACPU(t *testing.T) {
	gate := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{}, started: make(chan string, 16)}
	var mods []string
	var dep strings.Builder
	for i := range 8 {
		m := mp(fmt.Sprintf("k/m%d.ko", i))
		mods, g.gate[m] = append(mods, m), gate
		fmt.Fprintf(&dep, "k/m%d.ko:\n", i)
	}
	var log bytes.Buffer
	s := modState(mods, map[string][]byte{testModDir + "/modules.dep": []byte(dep.String())}, g, &log)
	if err := stepModules(context.Background(), s); err != nil { // all in the background
		t.Fatal(err)
	}
	started := 0
	for timeout := time.After(300 * time.Millisecond); ; {
		select {
		case <-g.started:
			started++
			continue
		case <-timeout:
		}
		break
	}
	close(gate)
	if want := max(1, runtime.NumCPU()-1); started != want {
		t.Errorf("%d background loads at once, want %d (CPUs: %d)", started, want, runtime.NumCPU())
	}
	if err := s.awaitModules(context.Background(), stageDisk); err != nil {
		t.Fatal(err)
	}
}
