package agent

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// shellSeen is what the fake debug shell saw when it was called.
type shellSeen struct {
	calls     int
	finals    []klog.Status
	keyWiped  bool
	poweredBy bool // power off or reboot already called
}

// fakeShell records the state of the boot at the moment the shell starts.
func fakeShell(h *harness, seen *shellSeen, err error) func(context.Context) error {
	return func(context.Context) error {
		seen.calls++
		seen.finals = h.finals()
		kb := h.f.keyBuf
		seen.keyWiped = kb != nil && kb.Len() == 0 && bytes.Equal(h.f.keyBytes, make([]byte, len(h.f.keyBytes)))
		seen.poweredBy = h.f.called("poweroff") || h.f.called("reboot")
		h.f.record("debugshell")
		return err
	}
}

func TestDebugShellAfterFailure(t *testing.T) {
	tests := []struct {
		name     string
		debug    bool
		allow    bool
		rawCfg   string // when set, the config file's bytes instead of the harness config
		shellErr error
		want     bool
	}{
		{"debug image allowing it", true, true, "", nil, true},
		{"shell fails, still powers off", true, true, "", errors.New("no /bin/gosh"), true},
		{"production image", false, false, "", nil, false},
		{"debug image not allowing it", true, false, "", nil, false},
		{"shell without debug is refused by validation", false, true, "", nil, false},
		{"invalid config asking for it", false, false,
			`{"version":1,"debug":true,"boot":{"debug_shell_after_failure":true},"shell":true}`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Debug, h.cfg.Boot.DebugShellAfterFailure = tc.debug, tc.allow
			if tc.rawCfg != "" {
				h.f.files = map[string][]byte{config.Path: []byte(tc.rawCfg)}
			}
			h.f.unlockErr = errors.New("passphrase does not match") // after the key was fetched
			var seen shellSeen
			h.debugShell = fakeShell(h, &seen, tc.shellErr)
			err := h.run()
			var be *BootError
			if !errors.As(err, &be) {
				t.Fatalf("Run = %v, want a BootError", err)
			}
			if !h.f.called("poweroff") {
				t.Errorf("calls %v: no power off", h.f.hardwareCalls())
			}
			if !tc.want {
				if seen.calls != 0 {
					t.Errorf("debug shell called %d times", seen.calls)
				}
				return
			}
			if be.Code != klog.CodeUnlockFailed || seen.calls != 1 {
				t.Fatalf("code %s, shell called %d times; want UNLOCK_FAILED and one call", be.Code, seen.calls)
			}
			if len(seen.finals) != 1 || seen.finals[0].OK || seen.finals[0].Code != klog.CodeUnlockFailed {
				t.Errorf("status lines before the shell: %+v, want the one FAIL line", seen.finals)
			}
			if !seen.keyWiped || seen.poweredBy {
				t.Errorf("at the shell: key wiped %v, powered off %v; want wiped and still on", seen.keyWiped, seen.poweredBy)
			}
			if calls := h.f.hardwareCalls(); len(calls) < 2 || calls[len(calls)-2] != "debugshell" {
				t.Errorf("calls %v: want the shell right before power off", calls)
			}
		})
	}
}
