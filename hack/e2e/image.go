//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"sigs.k8s.io/yaml"
)

// Guest is what the e2e operator config sets; everything else takes the
// agent/config defaults.
type Guest struct {
	BrokerURL  string        // https://10.0.2.2:PORT
	CAPEM      string        // the broker's CA certificate, pinned
	Resource   string        // KBS resource path of the disk key
	LUKSUUID   string        // the disk to unlock
	KeyTimeout time.Duration // broker.timeout
	Deadline   time.Duration // boot.deadline
	Attempts   int           // broker.attempts; 0 means the default
	// DHCP asks QEMU's DHCP server for the address instead of configuring
	// the fixed address of QEMU user networking (10.0.2.15/24, gateway
	// 10.0.2.2) statically, which saves the DHCP exchange under TCG.
	DHCP bool
}

// Config returns the operator config for g, defaults applied and validated.
func (g Guest) Config() (*config.Config, error) {
	c := &config.Config{Version: config.Version}
	c.Attestation.Provider = "emulated"
	c.Broker = config.Broker{URL: g.BrokerURL, CAPEM: g.CAPEM, Resource: g.Resource, Attempts: g.Attempts,
		Timeout: config.Duration(g.KeyTimeout)}
	c.Disk.LUKSUUID = g.LUKSUUID
	if !g.DHCP {
		c.Network = config.Network{Mode: "static", Address: "10.0.2.15/24", Gateway: "10.0.2.2"}
	}
	c.Boot.Deadline = config.Duration(g.Deadline)
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("e2e guest config: %w", err)
	}
	return c, nil
}

// OperatorYAML renders c as the YAML an operator hands to
// `cvmctl initramfs build` (modules are computed by the build).
func OperatorYAML(c *config.Config) ([]byte, error) {
	cc := *c
	cc.Modules = nil
	b, err := yaml.Marshal(&cc)
	if err != nil {
		return nil, fmt.Errorf("encoding operator config: %w", err)
	}
	return b, nil
}

// BuildInitramfs writes cfg as YAML next to out and runs `cvmctl initramfs
// build` with the Debian kernel's modules; it returns the tool's summary
// line (path, size, sha256, module count).
func BuildInitramfs(ctx context.Context, b Binaries, l Layout, cfg *config.Config, out string) (string, error) {
	y, err := OperatorYAML(cfg)
	if err != nil {
		return "", err
	}
	yamlPath := strings.TrimSuffix(out, ".img") + ".yaml"
	if err := os.WriteFile(yamlPath, y, 0o644); err != nil {
		return "", err
	}
	res, err := runTool(ctx, "", b.Cvmctl, "initramfs", "build", "--config", yamlPath, "--init", b.Cvminit,
		"--modules-dir", l.ModulesDir(), "--kernel-release", l.KernelRelease, "--output", out)
	return strings.TrimSpace(string(res)), err
}

// Launch is what a SEV-SNP launch measures: the AmdSev firmware, and the
// kernel, initrd and command line QEMU direct-boots. snpemu serve and
// cvmctl measure take the same flags.
type Launch struct {
	OVMF, Kernel, Initrd, Cmdline string
	VCPUs                         int    // 0 means 2
	VCPUType                      string // "" means EPYC-v4 (snpemu's default)
}

// Args renders l as the shared flags of snpemu serve and cvmctl measure.
func (l Launch) Args() []string {
	vcpus, typ := l.VCPUs, l.VCPUType
	if vcpus == 0 {
		vcpus = 2
	}
	if typ == "" {
		typ = "EPYC-v4"
	}
	return []string{"--ovmf", l.OVMF, "--kernel", l.Kernel, "--initrd", l.Initrd, "--append", l.Cmdline,
		"--vcpus", strconv.Itoa(vcpus), "--vcpu-type", typ, "--guest-features", "0x21"}
}

// Measure returns the launch digest `cvmctl measure` predicts for l, as
// 96 lower-case hex digits.
func Measure(ctx context.Context, b Binaries, l Launch) (string, error) {
	out, err := runTool(ctx, "", b.Cvmctl, append([]string{"measure", "--mode", "snp"}, l.Args()...)...)
	if err != nil {
		return "", err
	}
	d := strings.TrimSpace(string(out))
	if len(d) != 96 {
		return "", fmt.Errorf("cvmctl measure printed %q, want 96 hex digits", d)
	}
	return d, nil
}
