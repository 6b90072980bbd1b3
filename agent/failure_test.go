package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/klog"
)

func TestFailures(t *testing.T) {
	tests := []struct {
		name  string
		step  string
		code  klog.Code
		setup func(h *harness)
		// forbidden are call prefixes of later steps that must not appear.
		forbidden []string
	}{
		{"setup mount fails", "mounts", klog.CodeSetupFailed,
			func(h *harness) { h.f.mountErr = map[string]error{"/sys": errors.New("ENODEV")} },
			[]string{"mount devtmpfs", "load"}},
		{"config missing", "config", klog.CodeConfigInvalid,
			func(h *harness) { h.f.files = map[string][]byte{} }, []string{"load", "net"}},
		{"config invalid", "config", klog.CodeConfigInvalid,
			func(h *harness) { h.f.files = map[string][]byte{config.Path: []byte(`{"version":1,"shell":true}`)} },
			[]string{"load", "net"}},
		{"Go runtime variable from the command line", "config", klog.CodeConfigInvalid,
			func(h *harness) { h.environ = []string{"HOME=/", "TERM=linux", "GODEBUG=tlsrsakex=1"} },
			[]string{"load", "net"}},
		{"module load fails", "modules", klog.CodeModulesFailed,
			func(h *harness) { h.f.modErr = map[string]error{"/lib/modules/dm-crypt.ko": errors.New("ENOEXEC")} },
			[]string{"net", "attest"}},
		{"network fails", "network", klog.CodeNetworkDown,
			func(h *harness) { h.f.netErr = errors.New("no DHCP offer") }, []string{"broker"}},
		{"provider missing", "attest", klog.CodeAttestUnavailable,
			func(h *harness) { h.f.openErr = errors.New("port not found") }, []string{"broker get"}},
		{"report fails", "attest", klog.CodeAttestUnavailable,
			func(h *harness) { h.f.reportErr = errors.New("emulator status 5") }, []string{"broker get"}},
		{"debug policy", "attest", klog.CodeAttestDebugPolicy,
			func(h *harness) { h.f.debugBit = true }, []string{"broker get"}},
		{"broker refuses", "key", klog.CodeKeyRefused,
			func(h *harness) {
				h.f.keyErr = fmt.Errorf("getting resource: %w", kbs.ErrRefused)
			}, []string{"unlock"}},
		{"broker unreachable", "key", klog.CodeBrokerUnreachable,
			func(h *harness) { h.f.keyErr = fmt.Errorf("getting resource: %w after 2 attempts", kbs.ErrUnreachable) },
			[]string{"unlock"}},
		{"broker protocol", "key", klog.CodeBrokerProtocol,
			func(h *harness) { h.f.keyErr = fmt.Errorf("%w: resource: bad JWE", kbs.ErrProtocol) },
			[]string{"unlock"}},
		{"empty key", "key", klog.CodeBrokerProtocol,
			func(h *harness) { h.f.key = nil }, []string{"unlock"}},
		{"disk ambiguous", "disk", klog.CodeDiskNotFound,
			func(h *harness) { h.f.disks["vdc"] = h.f.disks["vda"] }, []string{"unlock"}},
		{"header rejected", "unlock", klog.CodeHeaderRejected,
			func(h *harness) {
				h.f.disks["vda"] = luksFixture(testUUID, func(j map[string]any) {
					j["segments"].(map[string]any)["0"].(map[string]any)["encryption"] = "cipher_null-ecb"
				})
			}, []string{"unlock", "mount ext4"}},
		{"raw key instead of a payload", "key", klog.CodeBrokerProtocol,
			func(h *harness) { h.f.resource = []byte("0123456789abcdef0123456789abcdef") }, []string{"unlock"}},
		{"payload of another version", "key", klog.CodeBrokerProtocol,
			func(h *harness) {
				h.f.resource = []byte(`{"version":2,"key":"a2V5","luks_uuid":"` + testUUID + `","header_sha256":"` +
					h.f.sealedID + `"}`)
			}, []string{"unlock"}},
		{"identity mismatch", "unlock", klog.CodeDiskIdentityMismatch,
			func(h *harness) { h.f.sealedID = strings.Repeat("ab", 32) }, []string{"unlock", "mount ext4"}},
		{"payload for another UUID", "unlock", klog.CodeDiskIdentityMismatch,
			func(h *harness) {
				h.f.resource = payloadJSON([]byte("key"), "00000000-0000-4000-8000-000000000000", h.f.sealedID,
					testVerity())
			}, []string{"unlock", "mount ext4"}},
		{"host-made disk, same UUID", "unlock", klog.CodeDiskIdentityMismatch,
			func(h *harness) {
				h.f.disks["vda"] = luksFixture(testUUID, func(j map[string]any) {
					d := j["digests"].(map[string]any)["0"].(map[string]any)
					d["salt"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
				})
			}, []string{"unlock", "mount ext4"}},
		{"unlock fails", "unlock", klog.CodeUnlockFailed,
			func(h *harness) { h.f.unlockErr = errors.New("passphrase does not match") }, []string{"mount ext4"}},
		{"mount fails", "mount", klog.CodeMountFailed,
			func(h *harness) { h.f.mountErr = map[string]error{"/newroot": errors.New("EINVAL")} },
			[]string{"check", "switchroot"}},
		{"new root lacks /run", "switchroot", klog.CodeSwitchRootFailed,
			func(h *harness) { h.f.checkErr = errors.New("/newroot/run: no such directory") }, []string{"switchroot"}},
		{"panic in a step", "network", klog.CodeInternal,
			func(h *harness) { h.f.netHook = func(context.Context) { panic("boom") } }, []string{"broker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			checkFailure(t, h, h.run(), tt.step, tt.code, tt.forbidden)
		})
	}
}

// checkFailure asserts the whole failure policy: the code, exactly one
// final line, no step after the failing one, the key wiped, power off.
func checkFailure(t *testing.T, h *harness, err error, step string, code klog.Code, forbidden []string) {
	t.Helper()
	var be *BootError
	if !errors.As(err, &be) || be.Code != code || be.Step != step {
		t.Fatalf("Run = %v, want BootError %s in step %s\nconsole:\n%s", err, code, step, h.console)
	}
	finals := h.finals()
	if len(finals) != 1 || finals[0].OK || finals[0].Code != code || finals[0].Step != step {
		t.Errorf("final lines = %+v, want one FAIL %s step=%s", finals, code, step)
	}
	if info, _ := code.Info(); len(finals) == 1 && !strings.HasPrefix(finals[0].Hint, info.Meaning+": ") {
		t.Errorf("hint %q does not open with the code's meaning", finals[0].Hint)
	}
	steps := h.steps()
	names := stepNames()
	if n := len(steps); n == 0 || steps[n-1].Name != step || steps[n-1].Status != klog.StepFail {
		t.Errorf("step lines = %+v, want the last to be %s failing", steps, step)
	}
	for i, s := range steps {
		if s.Name != names[i] {
			t.Errorf("step line %d = %s, want %s", i, s.Name, names[i])
		}
	}
	for _, p := range forbidden {
		if h.f.called(p) {
			t.Errorf("a later step ran: %q called", p)
		}
	}
	checkWiped(t, h.f)
	if !h.f.called("poweroff") || h.f.called("switchroot") {
		t.Errorf("calls %v: want poweroff and no switch_root", h.f.hardwareCalls())
	}
}

func TestKeyRefusedHint(t *testing.T) {
	h := newHarness(t)
	se := &kbs.StatusError{Step: "attest", Status: 401, Info: kbs.ErrorInfo{Detail: "measurement not in policy"}}
	h.f.keyErr = fmt.Errorf("getting resource default/disk/root: %w: %w", kbs.ErrRefused, se)
	_ = h.run()
	want := `CVMINIT-STATUS v1 FAIL code=KEY_REFUSED step=key hint="broker refused the key: measurement not in policy"`
	if !strings.Contains(h.console.String(), "\n"+want+"\n") {
		t.Errorf("console lacks the DESIGN.md line %q:\n%s", want, h.console)
	}
}

func TestDiskNeverAppears(t *testing.T) {
	h := newHarness(t)
	h.cfg.Boot.Deadline = config.Duration(time.Second)
	h.cfg.Broker.Timeout = config.Duration(time.Second)
	h.f.disks = map[string][]byte{"vdb": make([]byte, 8192)}
	t0 := time.Now()
	err := h.run()
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("failure took %s, deadline 1s", d)
	}
	checkFailure(t, h, err, "disk", klog.CodeDiskNotFound, []string{"unlock"})
}

// TestDeadlineExceeded: a step that hangs (its hardware ignores the
// context) fails the boot at the deadline, in that step, with nothing sent
// to the broker: the network's configuration, or the probe report, which
// is then not asked for a second time.
func TestDeadlineExceeded(t *testing.T) {
	for step, forbidden := range map[string]string{"network": "broker", "attest": "broker get"} {
		t.Run(step, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Boot.Deadline = config.Duration(time.Second)
			h.cfg.Broker.Timeout = config.Duration(time.Second)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			hang := func() { <-release }
			if step == "network" {
				h.f.netHook = func(context.Context) { hang() }
			} else {
				h.f.reportHook = hang
			}
			t0 := time.Now()
			err := h.run()
			if d := time.Since(t0); d > 1500*time.Millisecond {
				t.Errorf("failure took %s, deadline 1s", d)
			}
			checkFailure(t, h, err, step, klog.CodeDeadlineExceeded, []string{forbidden})
			if n := h.f.countCalls("report"); n > 1 {
				t.Errorf("%d reports asked for, want at most 1", n)
			}
		})
	}
}

func TestSwitchRootFailsAfterOK(t *testing.T) {
	h := newHarness(t)
	h.f.switchErr = errors.New("ENOEXEC")
	err := h.run()
	var be *BootError
	if !errors.As(err, &be) || be.Code != klog.CodeSwitchRootFailed {
		t.Fatalf("Run = %v, want SWITCH_ROOT_FAILED", err)
	}
	if finals := h.finals(); len(finals) != 1 || !finals[0].OK {
		t.Errorf("final lines = %+v, want only the OK line", finals)
	}
	if !h.f.called("poweroff") {
		t.Error("no power off after exec failed")
	}
}

func TestFailurePolicyFromConfig(t *testing.T) {
	h := newHarness(t)
	h.cfg.Boot.OnFailure = "reboot"
	h.cfg.Boot.FailureDelay = config.Duration(3 * time.Second)
	h.f.netErr = errors.New("down")
	_ = h.run()
	if !h.f.called("reboot") || h.f.called("poweroff") {
		t.Errorf("calls %v: want reboot only", h.f.hardwareCalls())
	}
	if len(h.f.sleeps) == 0 || h.f.sleeps[len(h.f.sleeps)-1] != 3*time.Second {
		t.Errorf("sleeps %v: want the 3s failure delay last", h.f.sleeps)
	}
}

// TestBackgroundModuleFailure: a module that fails to load in the
// background fails the boot, as MODULES_FAILED, at the step that needs
// it, which waits for it only where it needs it: device-mapper before the
// dm-crypt table (the disk driver, an earlier stage, was enough for the
// disk step), overlay once the root is mounted, before the writable
// places.
func TestBackgroundModuleFailure(t *testing.T) {
	const dir = "/lib/modules/6.1.0-9-amd64/"
	for _, tt := range []struct {
		failing, step string
		called        string   // a call the failing step made before waiting
		forbidden     []string // calls that must not happen
	}{
		{"dm-crypt", "unlock", "unlock /dev/vda root-crypt key=32 meta=327680", []string{"verity", "mount ext4"}},
		{"overlay", "mount", "mount ext4 /dev/mapper/root /newroot", []string{"mount tmpfs tmpfs /newroot", "mount overlay"}},
	} {
		t.Run(tt.failing, func(t *testing.T) {
			h := newHarness(t)
			var dep strings.Builder
			h.cfg.Modules = nil
			for _, m := range []string{"virtio_net", "virtio_blk", "dm-crypt", "ext4", "overlay"} {
				h.cfg.Modules = append(h.cfg.Modules, dir+"kernel/"+m+".ko")
				dep.WriteString("kernel/" + m + ".ko:\n")
			}
			b, err := h.cfg.JSON()
			if err != nil {
				t.Fatal(err)
			}
			h.f.files = map[string][]byte{config.Path: b, dir + "modules.dep": []byte(dep.String())}
			h.f.modErr = map[string]error{dir + "kernel/" + tt.failing + ".ko": errors.New("ENOEXEC")}
			checkFailure(t, h, h.run(), tt.step, klog.CodeModulesFailed, tt.forbidden)
			if !h.f.called(tt.called) {
				t.Errorf("no %q before the wait", tt.called)
			}
		})
	}
}
