package agent

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

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

// TestSplitModules: the early plan holds the early modules and everything
// they wait for, in list order; the late plan the rest, renumbered, its
// waits on early modules dropped.
func TestSplitModules(t *testing.T) {
	paths := []string{"/m/virtio.ko", "/m/dm-mod.ko", "/m/virtio_pci.ko", "/m/dm-crypt.ko", "/m/virtio_blk.ko", "/m/virtio_net.ko"}
	deps := map[string][]string{
		"/m/virtio.ko": {}, "/m/dm-mod.ko": {}, "/m/virtio_pci.ko": {"/m/virtio.ko"},
		"/m/dm-crypt.ko": {"/m/dm-mod.ko"}, "/m/virtio_blk.ko": {"/m/virtio.ko"}, "/m/virtio_net.ko": {"/m/virtio.ko"},
	}
	early, late := splitModules(planModules(paths, deps), true)
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
	all, none := splitModules(planModules(paths, nil), false)
	if len(all.paths) != len(paths) || len(none.paths) != 0 {
		t.Errorf("without dependencies: early %v, late %v; want everything early", all.paths, none.paths)
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
	err := s.awaitModules(context.Background())
	if !errors.Is(err, ErrModules) || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Fatalf("awaitModules = %v, want ErrModules with the load error", err)
	}
	if c := classify(err, klog.CodeDiskNotFound); c != klog.CodeModulesFailed {
		t.Errorf("classified %s, want %s", c, klog.CodeModulesFailed)
	}
	if err := s.awaitModules(context.Background()); err != nil {
		t.Errorf("second wait = %v, want nil (reported once)", err)
	}
}
