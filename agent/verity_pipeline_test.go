package agent

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/klog"
)

// bootOK boots and requires exactly one OK line naming root.
func bootOK(t *testing.T, h *harness, root string) {
	t.Helper()
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v\nconsole:\n%s", err, h.console)
	}
	if finals := h.finals(); len(finals) != 1 || !finals[0].OK || finals[0].Root != root {
		t.Fatalf("final lines = %+v, want one OK line with root=%s\nconsole:\n%s", finals, root, h.console)
	}
}

// TestVerityMounts checks what reaches the kernel on the happy path: the
// verity table built from the payload over the crypt device, the root
// mounted read-only from the verity device, and the writable places.
func TestVerityMounts(t *testing.T) {
	h := newHarness(t)
	h.cfg.Disk.Options = "noatime" // no "ro": the verity root is read-only all the same
	bootOK(t, h, "/dev/mapper/root")
	want := "1 /dev/mapper/root-crypt /dev/mapper/root-crypt 4096 4096 2048 2048 sha256 " +
		testVerity().RootHash + " " + testVerity().Salt
	if got := h.f.table.String(); got != want {
		t.Errorf("verity table\n got %q\nwant %q", got, want)
	}
	rw := "/run/cvminit-rw"
	wantMounts := []Mount{
		{Source: "/dev/mapper/root", Target: "/newroot", FSType: "ext4", Flags: MountReadOnly | MountNoAtime, Data: "noload"},
		{Source: "tmpfs", Target: "/newroot/tmp", FSType: "tmpfs", Flags: MountNoSuid | MountNoDev, Data: "mode=1777"},
		{Source: "tmpfs", Target: rw, FSType: "tmpfs", Data: "mode=0755"},
		{Source: "overlay", Target: "/newroot/etc", FSType: "overlay",
			Data: "lowerdir=/newroot/etc,upperdir=" + rw + "/etc/upper,workdir=" + rw + "/etc/work"},
		{Source: "overlay", Target: "/newroot/var", FSType: "overlay",
			Data: "lowerdir=/newroot/var,upperdir=" + rw + "/var/upper,workdir=" + rw + "/var/work"},
	}
	if got := h.f.mounts[len(h.f.mounts)-len(wantMounts):]; !reflect.DeepEqual(got, wantMounts) {
		t.Errorf("mounts\n got %+v\nwant %+v", got, wantMounts)
	}
	for _, d := range []string{rw + "/etc/upper", rw + "/etc/work", rw + "/var/upper", rw + "/var/work"} {
		if !h.f.called("mkdir " + d) {
			t.Errorf("%s not created before the overlay mount", d)
		}
	}
}

// TestVerityRootHashPinned: a pinned root hash equal to the payload's boots.
func TestVerityRootHashPinned(t *testing.T) {
	h := newHarness(t)
	h.cfg.Disk.VerityRootHash = testVerity().RootHash
	bootOK(t, h, "/dev/mapper/root")
	if !h.f.called("verity create root") {
		t.Error("no verity device created")
	}
}

// TestIntegrityNone: the explicit opt-out boots the crypt device itself,
// named disk.name, says so on the console, and leaves a writable ext4 root
// as it is.
func TestIntegrityNone(t *testing.T) {
	h := newHarness(t)
	h.cfg.Disk.Integrity, h.cfg.Disk.Options = "none", ""
	h.f.verity = nil
	bootOK(t, h, "/dev/mapper/root")
	if h.f.called("verity") || !h.f.called("unlock /dev/vda root key=") {
		t.Errorf("calls %v: want the crypt device named root and no verity", h.f.hardwareCalls())
	}
	if last := h.f.mounts[len(h.f.mounts)-1]; last.Target != "/newroot" || last.Flags&MountReadOnly != 0 {
		t.Errorf("last mount %+v, want the root, writable, and no writable places", last)
	}
	if !strings.Contains(h.console.String(), "no integrity protection") {
		t.Errorf("console does not warn about the missing integrity:\n%s", h.console)
	}
	for _, s := range h.steps() {
		if s.Name == "verity" && s.Status != klog.StepOK {
			t.Errorf("verity step %s, want ok", s.Status)
		}
	}
}

// TestIntegrityNoneUsesPayloadVerity: under "none" a payload that
// describes a tree still gets dm-verity: integrity is never dropped.
func TestIntegrityNoneUsesPayloadVerity(t *testing.T) {
	h := newHarness(t)
	h.cfg.Disk.Integrity = "none"
	bootOK(t, h, "/dev/mapper/root")
	if !h.f.called("unlock /dev/vda root-crypt ") || !h.f.called("verity create root") {
		t.Errorf("calls %v: want dm-verity over root-crypt", h.f.hardwareCalls())
	}
	if !strings.Contains(h.console.String(), "payload describes a dm-verity tree: using it") {
		t.Errorf("console does not say that the payload's tree is used:\n%s", h.console)
	}
	if h.f.mounts[len(h.f.mounts)-1].FSType != "overlay" {
		t.Error("read-only root without writable places")
	}
}

// TestErofsWithoutVerity: an erofs root cannot be written either and gets
// the writable places (without ext4's noload).
func TestErofsWithoutVerity(t *testing.T) {
	h := newHarness(t)
	h.cfg.Disk.Integrity, h.cfg.Disk.FSType, h.cfg.Disk.Options = "none", "erofs", ""
	h.f.verity = nil
	delete(h.f.dirs, "/newroot/var")
	h.f.dirs["/newroot/tmp"] = fs.ModeSymlink | 0o777
	bootOK(t, h, "/dev/mapper/root")
	var got []string
	for _, m := range h.f.mounts[4:] { // after the pseudo file systems
		got = append(got, m.FSType+" "+m.Target+" "+m.Data)
	}
	want := []string{"erofs /newroot ", "tmpfs /run/cvminit-rw mode=0755",
		"overlay /newroot/etc lowerdir=/newroot/etc,upperdir=/run/cvminit-rw/etc/upper,workdir=/run/cvminit-rw/etc/work"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mounts (no /var, /tmp a symlink):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestVolumeSizeBoundary: a volume of exactly data + tree is enough.
func TestVolumeSizeBoundary(t *testing.T) {
	h := newHarness(t)
	h.f.volSize = (2048 + 17) * 4096
	bootOK(t, h, "/dev/mapper/root")
}

func TestVerityFailures(t *testing.T) {
	tests := []struct {
		name      string
		step      string
		code      klog.Code
		setup     func(h *harness)
		forbidden []string
		hint      string // in the FAIL line's hint
	}{
		{"payload without verity", "key", klog.CodeIntegrityFailed,
			func(h *harness) { h.f.verity = nil }, []string{"unlock"}, "describes no dm-verity tree"},
		{"pinned root hash differs", "key", klog.CodeIntegrityFailed,
			func(h *harness) { h.cfg.Disk.VerityRootHash = strings.Repeat("0", 64) }, []string{"unlock"},
			"is not disk.verity_root_hash"},
		{"volume too small", "verity", klog.CodeIntegrityFailed,
			func(h *harness) { h.f.volSize = (2048+17)*4096 - 512 }, []string{"verity create", "mount ext4"},
			"holds 8457728 bytes, but 2048 data blocks and their hash tree need 8458240"},
		{"verity create fails", "verity", klog.CodeIntegrityFailed,
			func(h *harness) { h.f.verityErr = errors.New("dm ioctl: EINVAL") }, []string{"mount ext4"}, "EINVAL"},
		{"root mount fails", "mount", klog.CodeMountFailed,
			func(h *harness) { h.f.mountErr = map[string]error{"/newroot": errors.New("EIO")} },
			[]string{"mount tmpfs tmpfs /newroot/tmp", "check"}, "EIO"},
		{"overlay mount fails", "mount", klog.CodeMountFailed,
			func(h *harness) { h.f.mountErr = map[string]error{"/newroot/etc": errors.New("ENODEV")} },
			[]string{"mount overlay overlay /newroot/var", "check", "switchroot"}, "ENODEV"},
		{"root unreadable", "mount", klog.CodeMountFailed,
			func(h *harness) { h.f.lstatErr = map[string]error{"/newroot/var": errors.New("EIO")} },
			[]string{"mount overlay", "check"}, "EIO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			checkFailure(t, h, h.run(), tt.step, tt.code, tt.forbidden)
			if f := h.finals(); len(f) == 1 && !strings.Contains(f[0].Hint, tt.hint) {
				t.Errorf("hint %q lacks %q", f[0].Hint, tt.hint)
			}
		})
	}
}
