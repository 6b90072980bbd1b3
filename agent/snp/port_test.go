package snp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeSys makes sysRoot/class/virtio-ports/<port>/name files as the kernel
// shows them (name followed by a newline).
func fakeSys(t *testing.T, ports map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for kname, name := range ports {
		addPort(t, root, kname, name)
	}
	return root
}

func addPort(t *testing.T, root, kname, name string) {
	t.Helper()
	dir := filepath.Join(root, "class/virtio-ports", kname)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if name == "" {
		return // a port QEMU created without name=
	}
	if err := os.WriteFile(filepath.Join(dir, "name"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindPort(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"vport0p1": "org.qemu.guest_agent.0",
		"vport0p2": "",
		"vport1p1": "cvminit.snp",
		"vport1p2": "cvminit.snp.extra",
	})
	tests := []struct {
		root, name, want string
		err              error
	}{
		{sys, "cvminit.snp", "vport1p1", nil},
		{sys, "org.qemu.guest_agent.0", "vport0p1", nil},
		{sys, "cvminit", "", ErrPortNotFound},
		{t.TempDir(), "cvminit.snp", "", ErrPortNotFound}, // no virtio-ports class at all
	}
	for _, tc := range tests {
		got, err := FindPort(tc.root, tc.name)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("FindPort(%q) = %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestPortDialerWaitsForPort(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "vport2p1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(120 * time.Millisecond) // the module probes after we started looking
		addPort(t, sys, "vport2p1", DefaultPort)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rw, err := PortDialer(sys, dev, DefaultPort)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Write([]byte("x")); err != nil {
		t.Fatalf("port not opened read-write: %v", err)
	}
	if f, ok := rw.(*os.File); !ok || f.Name() != filepath.Join(dev, "vport2p1") {
		t.Fatalf("opened %v, want %s", rw, filepath.Join(dev, "vport2p1"))
	}
}

func TestPortDialerGivesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := PortDialer(t.TempDir(), t.TempDir(), DefaultPort)(ctx)
	if !errors.Is(err, ErrPortNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrPortNotFound and DeadlineExceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("gave up after %v", time.Since(start))
	}
}
