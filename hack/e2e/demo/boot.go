//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/hack/e2e"
)

// policyWarning heads the demo policy and is printed when it is written.
const policyWarning = `DEMO ONLY: this policy trusts snpemu's self-made AMD chain (extra_roots with
insecure_non_amd_roots), so anyone with that emulator state can forge reports, and skips
revocation checks. A production policy trusts AMD's roots and AMD's CRLs only.`

// measure predicts the launch digest of the AmdSev firmware, the Debian
// kernel, the demo initramfs and the command line, and writes the policy.
func (d *demo) measure(ctx context.Context) error {
	d.launch = e2e.Launch{OVMF: d.layout.OVMFAmdSev(), Kernel: d.layout.Kernel(), Initrd: initramfs,
		Cmdline: demoCmdline, VCPUs: demoVCPUs}
	var err error
	if d.digest, err = e2e.Measure(ctx, d.bin, d.launch); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "launch digest %s\n  of %s + %s + %s + %q, %d vCPUs EPYC-v4\n", d.digest, d.launch.OVMF,
		d.launch.Kernel, d.launch.Initrd, d.launch.Cmdline, demoVCPUs)
	d.policy = d.path("policy.yaml")
	// The broker resolves the policy's paths relative to the policy file.
	p := e2e.Policy{Measurements: []string{d.digest}, EmulatorRoot: e2e.EmuChain(filepath.Base(d.emu)),
		Resources: map[string]string{d.cfg.Broker.Resource: d.keyFile}}
	if err := p.Write(ctx, d.bin, d.policy); err != nil {
		return err
	}
	if err := prependComment(d.policy, policyWarning); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "policy %s\nstore %s: %s released to this digest only (keybroker resource add)\n\n%s\n",
		d.policy, e2e.StoreFor(d.policy), d.cfg.Broker.Resource, indent(policyWarning, "  !!! "))
	return nil
}

// prependComment puts text, as YAML comment lines, before the content of path.
func prependComment(path, text string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var head []byte
	for _, l := range strings.Split(text, "\n") {
		head = append(head, "# "+l+"\n"...)
	}
	return os.WriteFile(path, append(head, b...), 0o600)
}

// indent puts prefix before every line of text.
func indent(text, prefix string) string {
	return prefix + strings.ReplaceAll(text, "\n", "\n"+prefix)
}

// boot runs the VM with its helpers while streaming the serial console,
// then checks that the confidential OS came up with the disk's secret.
func (d *demo) boot(ctx context.Context) error {
	d.bootDir = d.path("boot")
	if err := os.MkdirAll(d.bootDir, 0o755); err != nil {
		return err
	}
	s := e2e.BootSpec{Dir: d.bootDir, Launch: d.launch, Disk: d.disk, EmuState: d.emu,
		Broker: &e2e.BrokerRun{Policy: d.policy, TLSDir: demoDir, Port: d.port}}
	if d.o.OVMF {
		s.Firmware = d.layout.OVMF()
	}
	fmt.Fprintf(d.out, "keybroker: https://127.0.0.1:%d (guest: %s), TLS identity %s/ (DEMO ONLY, public key)\n",
		d.port, d.cfg.Broker.URL, demoDir)
	fmt.Fprintf(d.out, "QEMU firmware: %s; console log %s\n\n", firmwareName(s.Firmware),
		filepath.Join(d.bootDir, "serial.log"))
	stopTail := tail(filepath.Join(d.bootDir, "serial.log"), d.out)
	res, err := e2e.Boot(ctx, d.tools, d.bin, s)
	stopTail()
	if err != nil {
		return err
	}
	d.res = res
	return nil
}

func firmwareName(fw string) string {
	if fw == "" {
		return "QEMU's default (SeaBIOS)"
	}
	return fw
}

// verdict checks the boot: exactly one OK status line, then the marker and
// the disk's secret printed by the confidential OS.
func (d *demo) verdict() error {
	st, _, err := e2e.FinalStatus(d.res.Lines)
	if err != nil {
		return fmt.Errorf("%w: %w", errGuestFailed, err)
	}
	if !st.OK {
		return fmt.Errorf("%w: cvminit failed: code=%s step=%s hint=%q", errGuestFailed, st.Code, st.Step, st.Hint)
	}
	texts := make([]string, len(d.res.Lines))
	for i, l := range d.res.Lines {
		texts[i] = l.Text
	}
	for _, want := range []string{e2e.OSMarker, e2e.SecretPrefix + d.secret} {
		if !slices.Contains(texts, want) {
			return fmt.Errorf("%w: no %q line on the console", errGuestFailed, want)
		}
	}
	payload, err := os.ReadFile(d.keyFile)
	if err != nil {
		return err
	}
	p, err := disk.ParsePayload(payload)
	clear(payload)
	if err != nil {
		return err
	}
	defer p.Key.Wipe()
	if leaks := e2e.Leaks(d.res.Raw, p.Key.Bytes()); len(leaks) > 0 {
		return fmt.Errorf("%w: the disk key appeared on the console (%v)", errGuestFailed, leaks)
	}
	return nil
}
