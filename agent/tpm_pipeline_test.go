package agent

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/agent/tpm"
)

// handEvents is the measurement scheme worked out by hand from the
// harness's inputs with crypto/sha256 (not with agent/tpm): PCR, name and
// the SHA-256 of the measured bytes, in the spec's order.
func handEvents(h *harness, verity bool) []tpm.Event {
	ev := func(pcr int, name string, data []byte) tpm.Event {
		return tpm.Event{PCR: pcr, Name: name, Digest: sha256.Sum256(data)}
	}
	out := []tpm.Event{
		ev(11, "cvminit-binary", h.exe),
		ev(11, "cvminit-config", h.f.files[config.Path]),
		ev(11, "enter-initrd", []byte("enter-initrd")),
		ev(12, "kernel-cmdline", []byte(h.cmdline)), // the harness's /proc/cmdline ends in "\n"
		ev(15, "luks-identity", []byte("luks_uuid="+testUUID+" header_sha256="+h.f.sealedID)),
	}
	if verity {
		out = append(out, ev(15, "verity-root-hash", []byte("verity_root_hash="+testVerity().RootHash)))
	}
	return append(out, ev(11, "leave-initrd", []byte("leave-initrd")))
}

// digests drops the names: what the TPM itself sees.
func digests(events []tpm.Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "pcr %d %x\n", e.PCR, e.Digest)
	}
	return b.String()
}

// TestTPMMeasuredBoot: a boot with a TPM extends exactly the hand-made
// events in order, BootEvents predicts them, the event log holds each
// with its name, is created 0600 in a 0755 directory, and the OK line
// says tpm=measured.
func TestTPMMeasuredBoot(t *testing.T) {
	for _, verity := range []bool{true, false} {
		t.Run(fmt.Sprintf("verity=%v", verity), func(t *testing.T) {
			h := newHarness(t)
			root := testVerity().RootHash
			if !verity {
				h.cfg.Disk.Integrity, h.f.verity, root = "none", nil, ""
			}
			bootOK(t, h, "/dev/mapper/root")
			want := handEvents(h, verity)
			if got := h.f.tpm.recorded(); digests(got) != digests(want) {
				t.Errorf("extensions:\n%s\nwant:\n%s", digests(got), digests(want))
			}
			boot := BootEvents(BootInputs{Binary: h.exe, Config: h.f.files[config.Path], Cmdline: h.cmdline + "\n",
				LUKSUUID: testUUID, HeaderSHA256: h.f.sealedID, VerityRootHash: root})
			if fmt.Sprint(boot) != fmt.Sprint(want) {
				t.Errorf("BootEvents:\n%v\nwant:\n%v", boot, want)
			}
			logged, err := tpm.ParseLog(bytes.NewReader(h.f.tpm.logBytes()))
			if err != nil || fmt.Sprint(logged) != fmt.Sprint(want) {
				t.Errorf("event log (%v):\n%v\nwant:\n%v", err, logged, want)
			}
			if h.f.tpm.logPerm != 0o600 || !h.f.called("mkdir /run/log/systemd 0755") {
				t.Errorf("log mode %v, calls %v: want 0600 in /run/log/systemd made 0755", h.f.tpm.logPerm, h.f.calls)
			}
			if !h.f.tpm.devClosed || !h.f.tpm.logClosed {
				t.Error("TPM or event log left open at switch_root")
			}
			if st := h.finals()[0]; st.TPM != klog.TPMMeasured {
				t.Errorf("OK line tpm=%q, want measured", st.TPM)
			}
		})
	}
}

// TestTPMNotMeasured: tpm.mode off never opens the TPM; auto without one
// boots, says so, and writes no event log.
func TestTPMNotMeasured(t *testing.T) {
	tests := []struct {
		name, mode string
		absent     bool
		want       string
		line       string
	}{
		{"off", "off", false, klog.TPMOff, "tpm.mode off: nothing measured"},
		{"auto without a TPM", "auto", true, klog.TPMAbsent, "no TPM: nothing measured tpm=absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.TPM.Mode = tt.mode
			h.f.tpm.absent = tt.absent
			bootOK(t, h, "/dev/mapper/root")
			if st := h.finals()[0]; st.TPM != tt.want {
				t.Errorf("OK line tpm=%q, want %s", st.TPM, tt.want)
			}
			if n := len(h.f.tpm.recorded()); n != 0 || h.f.called("log open") || h.f.called("mkdir /run/log") {
				t.Errorf("%d extensions, calls %v: want nothing measured and no event log", n, h.f.hardwareCalls())
			}
			if tt.mode == "off" && h.f.called("tpm open") {
				t.Error("tpm.mode off opened the TPM")
			}
			if !strings.Contains(h.kmsg.String(), tt.line) {
				t.Errorf("kernel log lacks %q:\n%s", tt.line, h.kmsg)
			}
		})
	}
}

// TestTPMRequiredPresent: required with a TPM measures like auto.
func TestTPMRequiredPresent(t *testing.T) {
	h := newHarness(t)
	h.cfg.TPM.Mode = "required"
	bootOK(t, h, "/dev/mapper/root")
	if got := h.f.tpm.recorded(); digests(got) != digests(handEvents(h, true)) {
		t.Errorf("extensions:\n%s", digests(got))
	}
}

// TestTPMFailures: one failure per dependency of the measurements, in each
// step that measures. Every one is TPM_FAILED in that step, runs nothing
// later, and leaves the TPM closed.
func TestTPMFailures(t *testing.T) {
	eio := errors.New("EIO")
	failAt := func(n int) func(h *harness) {
		return func(h *harness) { h.f.tpm.extendErr = map[int]error{n: fmt.Errorf("TPM_RC_FAILURE (%d)", n)} }
	}
	tests := []struct {
		name      string
		step      string
		setup     func(h *harness)
		forbidden []string
		opened    bool // the TPM was opened and must be closed again
	}{
		{"open fails", "tpm", func(h *harness) { h.f.tpm.openErr = errors.New("EBUSY") }, []string{"log open", "load"}, false},
		{"required without a TPM", "tpm", func(h *harness) { h.cfg.TPM.Mode, h.f.tpm.absent = "required", true },
			[]string{"log open", "load"}, false},
		{"log directory fails", "tpm", func(h *harness) { h.f.mkdirErr = map[string]error{"/run/log/systemd": eio} },
			[]string{"log open", "tpm extend", "load"}, true},
		{"log open fails", "tpm", func(h *harness) { h.f.tpm.logOpenErr = eio }, []string{"tpm extend", "load"}, true},
		{"log write fails", "tpm", func(h *harness) { h.f.tpm.logWriteErr = eio }, []string{"load"}, true},
		{"binary unreadable", "tpm", func(h *harness) { h.exe = nil }, []string{"tpm extend", "load"}, true},
		{"binary extend fails", "tpm", failAt(1), []string{"load"}, true},
		{"cmdline extend fails", "tpm", failAt(4), []string{"load"}, true},
		{"disk extend fails", "unlock", failAt(5), []string{"verity", "mount ext4"}, true},
		{"verity extend fails", "verity", failAt(6), []string{"mount ext4"}, true},
		{"leave-initrd extend fails", "switchroot", failAt(7), []string{"switchroot"}, true},
		{"close fails", "switchroot", func(h *harness) { h.f.tpm.closeErr = eio }, []string{"switchroot"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			checkFailure(t, h, h.run(), tt.step, klog.CodeTPMFailed, tt.forbidden)
			if tt.opened && (!h.f.tpm.devClosed || h.f.tpm.logOpened && !h.f.tpm.logClosed) {
				t.Error("TPM or event log left open after the failure")
			}
			if st := h.finals(); len(st) == 1 && !strings.HasPrefix(st[0].Hint,
				"the boot could not be measured into the TPM: TPM measurement failed: ") {
				t.Errorf("hint %q", st[0].Hint)
			}
		})
	}
}

// TestTPMLogMatchesExtensions: when the event log cannot be written after
// an extension, the boot stops there: the log never claims more than the
// TPM holds, and the TPM never holds more than one unlogged event.
func TestTPMLogMatchesExtensions(t *testing.T) {
	h := newHarness(t)
	h.f.tpm.logWriteErr = errors.New("ENOSPC")
	_ = h.run()
	if n := len(h.f.tpm.recorded()); n != 1 || len(h.f.tpm.logBytes()) != 0 {
		t.Errorf("%d extensions and %d log bytes, want 1 and 0", n, len(h.f.tpm.logBytes()))
	}
}

// TestMeasurerAfterClose: a tpm step that outlived the failure policy's
// close cannot leave the TPM open, and nothing is measured after close.
func TestMeasurerAfterClose(t *testing.T) {
	f := &fake{}
	f.tpm = &fakeTPM{f: f}
	var m measurer
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	if m.start(f.tpm, fakeLog{f.tpm}) || !f.tpm.devClosed || !f.tpm.logClosed {
		t.Error("start after close kept the TPM open")
	}
	if ok, err := m.extend(tpm.PhaseEvent(tpm.PhaseLeaveInitrd)); ok || err != nil || len(f.tpm.recorded()) != 0 {
		t.Errorf("extend after close = %v, %v", ok, err)
	}
}
