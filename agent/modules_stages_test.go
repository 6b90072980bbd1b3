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

// TestModuleStagesAssigned: each module belongs to the first stage that
// needs it: the network's chain is early, crc16 (dm-crypt's and ext4's)
// loads with device-mapper, a module nothing names (loop) with the disk
// driver, overlay last.
func TestModuleStagesAssigned(t *testing.T) {
	deps := map[string][]string{"virtio": nil, "virtio_pci": {"virtio"}, "virtio_net": {"virtio"},
		"virtio_blk": {"virtio"}, "loop": nil, "dm-mod": nil, "crc16": nil, "dm-crypt": {"dm-mod", "crc16"},
		"mbcache": nil, "ext4": {"crc16", "mbcache"}, "overlay": nil}
	want := map[string]moduleStage{"virtio": stageEarly, "virtio_pci": stageEarly, "virtio_net": stageEarly,
		"virtio_blk": stageDisk, "loop": stageDisk, "dm-mod": stageCrypt, "crc16": stageCrypt, "dm-crypt": stageCrypt,
		"mbcache": stageRoot, "ext4": stageRoot, "overlay": stageWritable}
	names := []string{"virtio", "virtio_pci", "virtio_net", "virtio_blk", "loop", "dm-mod", "crc16", "dm-crypt",
		"mbcache", "ext4", "overlay"}
	var paths []string
	full := map[string][]string{}
	for _, n := range names {
		paths = append(paths, "/m/"+n+".ko")
		full["/m/"+n+".ko"] = nil
		for _, d := range deps[n] {
			full["/m/"+n+".ko"] = append(full["/m/"+n+".ko"], "/m/"+d+".ko")
		}
	}
	got := moduleStages(planModules(paths, full), "ext4")
	for i, n := range names {
		if got[i] != want[n] {
			t.Errorf("%s: stage %s, want %s", n, got[i], want[n])
		}
	}
}

// TestModuleStages: the modules step returns once the early modules are
// loaded; the disk driver's and device-mapper's stages are loaded while
// the root file system's module is still loading (each waiter waits only
// for its own), and a failure there reaches the mount step's wait as
// MODULES_FAILED.
func TestModuleStages(t *testing.T) {
	mods := []string{mp("k/virtio.ko"), mp("k/virtio_pci.ko"), mp("k/crc16.ko"), mp("k/mbcache.ko"),
		mp("k/virtio_blk.ko"), mp("k/dm-mod.ko"), mp("k/dm-crypt.ko"), mp("k/ext4.ko"), mp("k/overlay.ko")}
	dep := "k/virtio.ko:\nk/virtio_pci.ko: k/virtio.ko\nk/crc16.ko:\nk/mbcache.ko:\nk/virtio_blk.ko: k/virtio.ko\n" +
		"k/dm-mod.ko:\nk/dm-crypt.ko: k/dm-mod.ko k/crc16.ko\nk/ext4.ko: k/crc16.ko k/mbcache.ko\nk/overlay.ko:\n"
	// crc16, the first background load, holds the background worker until
	// the step has returned: by then virtio is loaded, so the disk driver
	// is ready before the background loads could reach ext4 (which would
	// hold the one background worker at its gate) however the scheduler
	// runs the loads.
	crc16, ext4 := make(chan struct{}), make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{mods[2]: crc16, mods[7]: ext4},
		fail: map[string]error{mods[7]: errors.New("ENOEXEC")}}
	var log bytes.Buffer
	s := modState(mods, map[string][]byte{testModDir + "/modules.dep": []byte(dep)}, g, &log)
	s.Config.Disk.FSType = "ext4"
	if err := stepModules(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	close(crc16)
	if ev := g.log(); !slices.Contains(ev, "end "+mods[1]) {
		t.Errorf("after the step: %v; want virtio_pci loaded", ev)
	}
	for _, st := range []struct {
		st     moduleStage
		loaded []string
	}{{stageDisk, []string{mods[4]}}, {stageCrypt, []string{mods[2], mods[5], mods[6]}}} {
		if err := s.awaitModules(context.Background(), st.st); err != nil {
			t.Fatalf("%s stage: %v", st.st, err)
		}
		ev := g.log()
		for _, m := range st.loaded {
			if !slices.Contains(ev, "end "+m) {
				t.Errorf("after the %s stage: %v; want %s loaded", st.st, ev, m)
			}
		}
		if slices.Contains(ev, "end "+mods[7]) {
			t.Errorf("after the %s stage: %v; want ext4 still loading", st.st, ev)
		}
	}
	close(ext4)
	err := s.awaitModules(context.Background(), stageRoot)
	if !errors.Is(err, ErrModules) || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Fatalf("root stage = %v, want ErrModules with ext4's error", err)
	}
}

// TestEarlyFirst: the ready module of the modules step's own stage starts
// before the ready background ones (listed first), and background loads
// take no more than their share of the workers.
func TestEarlyFirst(t *testing.T) {
	p := planModules([]string{"/m/bg1.ko", "/m/bg2.ko", "/m/e1.ko", "/m/e2.ko"},
		map[string][]string{"/m/bg1.ko": nil, "/m/bg2.ko": nil, "/m/e1.ko": nil, "/m/e2.ko": {"/m/e1.ko"}})
	for _, tt := range []struct {
		workers, bg int
		want        []bool // started: bg1, bg2, e1, e2 (e2 waits for e1)
	}{
		{1, 1, []bool{false, false, true, false}}, // one worker: e1
		{3, 1, []bool{true, false, true, false}},  // e1, and one background load beside it
		{3, 2, []bool{true, true, true, false}},
	} {
		l := newModuleLoader(p, []moduleStage{stageDisk, stageRoot, stageEarly, stageEarly}, tt.workers, tt.bg)
		l.load = func(int) error { return nil }
		l.start(context.Background(), make(chan loadResult, 4))
		if !slices.Equal(l.started, tt.want) {
			t.Errorf("%d workers, %d for the background: started %v, want %v", tt.workers, tt.bg, l.started, tt.want)
		}
	}
}

// TestLateModuleFailure: a module failing in the background fails the
// disk step, which waits for it, as MODULES_FAILED; the early modules were
// loaded within the modules step.
func TestLateModuleFailure(t *testing.T) {
	mods := []string{mp("kernel/virtio_pci.ko"), mp("kernel/virtio_blk.ko")}
	files := map[string][]byte{testModDir + "/modules.dep": []byte("kernel/virtio_pci.ko:\nkernel/virtio_blk.ko:\n")}
	gate := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{mods[1]: gate}, fail: map[string]error{mods[1]: errors.New("ENOEXEC")}}
	var log bytes.Buffer
	s := modState(mods, files, g, &log)
	if err := stepModules(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if ev := g.log(); !slices.Contains(ev, "end "+mods[0]) || slices.Contains(ev, "end "+mods[1]) {
		t.Errorf("after the step: %v; want virtio_pci loaded, virtio_blk still loading", ev)
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
