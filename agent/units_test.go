package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/agent/snp"
)

func TestMountOptions(t *testing.T) {
	tests := []struct {
		in    string
		flags MountFlags
		data  string
	}{
		{"", 0, ""},
		{"ro", MountReadOnly, ""},
		{"ro,rw", 0, ""},
		{"ro,noatime,nosuid,nodev,noexec", MountReadOnly | MountNoAtime | MountNoSuid | MountNoDev | MountNoExec, ""},
		{"relatime,errors=remount-ro,nodiratime", MountRelatime | MountNoDiratime, "errors=remount-ro"},
		{"data=ordered,,commit=5", 0, "data=ordered,commit=5"},
	}
	for _, tt := range tests {
		f, d := mountOptions(tt.in)
		if f != tt.flags || d != tt.data {
			t.Errorf("mountOptions(%q) = %#x, %q; want %#x, %q", tt.in, f, d, tt.flags, tt.data)
		}
	}
}

func TestClassify(t *testing.T) {
	deadline := &stepError{step: "x", err: context.DeadlineExceeded, deadlineHit: true}
	tests := []struct {
		err  error
		want klog.Code
	}{
		{errors.New("plain"), klog.CodeModulesFailed},
		{fmt.Errorf("a: %w", kbs.ErrRefused), klog.CodeKeyRefused},
		{fmt.Errorf("a: %w", kbs.ErrUnreachable), klog.CodeBrokerUnreachable},
		{fmt.Errorf("a: %w", kbs.ErrProtocol), klog.CodeBrokerProtocol},
		{fmt.Errorf("%w: %w", ErrAttestation, snp.ErrDebugPolicy), klog.CodeAttestDebugPolicy},
		{fmt.Errorf("%w: %w", ErrAttestation, snp.ErrNoProvider), klog.CodeAttestUnavailable},
		{fmt.Errorf("x: %w", config.ErrInvalid), klog.CodeConfigInvalid},
		{fmt.Errorf("x: %w", ErrHeaderRejected), klog.CodeHeaderRejected},
		{fmt.Errorf("x: %w", ErrRootAmbiguous), klog.CodeDiskNotFound},
		{fmt.Errorf("%w: no tree", ErrIntegrity), klog.CodeIntegrityFailed},
		{fmt.Errorf("%w: x", ErrPanic), klog.CodeInternal},
		{deadline, klog.CodeDeadlineExceeded},
		{&stepError{step: "disk", err: fmt.Errorf("%w: x", ErrRootNotFound), deadlineHit: true}, klog.CodeDiskNotFound},
		{&stepError{step: "key", err: fmt.Errorf("%w: x", kbs.ErrUnreachable), deadlineHit: true}, klog.CodeBrokerUnreachable},
	}
	for _, tt := range tests {
		if got := classify(tt.err, klog.CodeModulesFailed); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestSetKeyAfterWipe(t *testing.T) {
	var s State
	first := secret.FromBytes([]byte("first-key"))
	if !s.SetKey(first) || s.Key() != first {
		t.Fatal("SetKey before wipe refused")
	}
	s.WipeSecrets()
	if first.Len() != 0 || s.Key() != nil {
		t.Error("WipeSecrets left the key")
	}
	late := secret.FromBytes([]byte("late-key"))
	if s.SetKey(late) || late.Len() != 0 || s.Key() != nil {
		t.Error("a key arriving after the wipe was kept")
	}
}

func TestFindRoot(t *testing.T) {
	other := luksFixture("11111111-2222-3333-4444-555555555555", nil)
	f := &fake{disks: map[string][]byte{"vda": other, "vdb": luksFixture(testUUID, nil), "vdc": make([]byte, 4096),
		"dm-0": luksFixture(testUUID, nil)}}
	if got, err := findRoot(f, testUUID); err != nil || got != "vdb" {
		t.Errorf("findRoot = %q, %v; want vdb", got, err)
	}
	if _, err := findRoot(f, "99999999-2222-3333-4444-555555555555"); !errors.Is(err, ErrRootNotFound) {
		t.Errorf("absent UUID: %v, want ErrRootNotFound", err)
	}
	f.disks["vdd"] = f.disks["vdb"]
	if _, err := findRoot(f, testUUID); !errors.Is(err, ErrRootAmbiguous) {
		t.Errorf("two disks: %v, want ErrRootAmbiguous", err)
	}
}
