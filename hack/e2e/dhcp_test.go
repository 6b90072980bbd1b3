//go:build linux

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// dhcpStepLimit bounds the network step with DHCP: QEMU's built-in server
// answers at once, so the step is the link coming up plus two round
// trips (measured under TCG on 2 cores: 0.3 to 0.5 s).
const dhcpStepLimit = 5 * time.Second

// TestDHCPBoot boots with network.mode dhcp, the config default, and
// QEMU's built-in DHCP server handing out 10.0.2.15/24 via 10.0.2.2; the
// broker pins this initramfs too, so the boot must reach the OS.
func TestDHCPBoot(t *testing.T) {
	e := requireEnv(t)
	ctx := context.Background()
	initrd, err := e.Variant(ctx, "initramfs-dhcp.img", func(c *config.Config) {
		c.Network = config.Network{Mode: "dhcp", Interface: config.DefaultInterface}
	})
	if err != nil {
		t.Fatal(err)
	}
	digest, err := Measure(ctx, e.Bin, e.Launch(initrd))
	if err != nil {
		t.Fatal(err)
	}
	de := *e
	de.Policy = e.path("policy-dhcp.yaml")
	p := Policy{Measurements: []string{digest}, EmulatorRoot: EmuChain(e.EmuState),
		Resources: map[string]string{Resource: e.path("secrets/root.key")}}
	if err := p.Write(ctx, e.Bin, de.Policy); err != nil {
		t.Fatal(err)
	}
	r := boot(t, &de, "dhcp", BootOptions{Initrd: initrd})
	wantOK(t, r)
	wantOSUp(t, e, r)
	n, ok := stepResult(r, "network")
	if !ok || n.Status != klog.StepOK {
		t.Fatalf("network step %+v, want ok", n)
	}
	if d := time.Duration(n.MS) * time.Millisecond; d > dhcpStepLimit {
		t.Errorf("network step took %v with DHCP, want at most %v", d, dhcpStepLimit)
	}
}
