package main

import (
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cvminit/cvminit/initramfs/launch"
)

// measureArgs are the flags of cvmctl measure, mirroring sev-snp-measure,
// and those of its --pcrs mode.
type measureArgs struct {
	mode, ovmf, vmm, features, format   string
	vcpuType, vcpuSig                   string
	family, model, stepping             uint
	kernel, initrd, appendLine, ovmfSHA string
	vcpus                               int
	set                                 map[string]bool
	pcrs                                pcrArgs
}

func newMeasureFlags(a *measureArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl measure", flag.ContinueOnError)
	fs.StringVar(&a.mode, "mode", "snp", "snp, or snp:ovmf-hash to print only the OVMF pages' digest")
	fs.StringVar(&a.ovmf, "ovmf", "", "OVMF firmware image (required)")
	fs.IntVar(&a.vcpus, "vcpus", 1, "number of vCPUs")
	fs.StringVar(&a.vcpuType, "vcpu-type", "", "QEMU vCPU type: "+strings.Join(launch.VCPUTypes(), ", "))
	fs.StringVar(&a.vcpuSig, "vcpu-sig", "", "vCPU signature, CPUID(1).EAX (e.g. 0x800f12)")
	fs.UintVar(&a.family, "vcpu-family", 0, "vCPU family (with --vcpu-model, --vcpu-stepping)")
	fs.UintVar(&a.model, "vcpu-model", 0, "vCPU model")
	fs.UintVar(&a.stepping, "vcpu-stepping", 0, "vCPU stepping")
	fs.StringVar(&a.vmm, "vmm-type", string(launch.VMMQEMU), "hypervisor: qemu, ec2 or gce")
	fs.StringVar(&a.features, "guest-features", "0x21", "SEV_FEATURES of the VMSA (0x1 SNP, 0x21 SNP+DebugSwap)")
	fs.StringVar(&a.kernel, "kernel", "", "direct-boot kernel to measure (needs an AmdSev OVMF)")
	fs.StringVar(&a.initrd, "initrd", "", "initrd to measure (with --kernel or --pcrs)")
	fs.StringVar(&a.appendLine, "append", "", "kernel command line to measure (with --kernel; "+
		"with --pcrs as the guest's /proc/cmdline shows it)")
	fs.StringVar(&a.ovmfSHA, "snp-ovmf-hash", "", "precomputed OVMF digest (hex) replacing the OVMF pages")
	fs.StringVar(&a.format, "output-format", "hex", "hex or base64")
	a.pcrs.flags(fs)
	return fs
}

const measureUsage = "usage: cvmctl measure --ovmf FILE [flags]\n" +
	"       cvmctl measure --pcrs --initrd FILE --append LINE\n" +
	"                      (--payload FILE | --luks-uuid UUID --header-sha256 HEX [--verity-root-hash HEX]) [--json]\n\nflags:"

// runMeasure implements cvmctl measure: it prints the launch digest alone on stdout.
func runMeasure(args []string, stdout, stderr io.Writer) int {
	a := &measureArgs{}
	fs := newMeasureFlags(a)
	done, err := parseFlags(fs, args, measureUsage, stderr)
	if done || err != nil {
		return exitWith(stderr, "cvmctl measure", err)
	}
	a.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { a.set[f.Name] = true })
	run := a.run
	if a.pcrs.on {
		run = a.runPCRs
	}
	out, err := run()
	if err != nil {
		return exitWith(stderr, "cvmctl measure", err)
	}
	fmt.Fprintln(stdout, out)
	return 0
}

// run validates the flags, reads the files and returns the formatted digest.
func (a *measureArgs) run() (string, error) {
	for _, f := range pcrOnlyFlags() {
		if a.set[f] {
			return "", usagef("--%s needs --pcrs", f)
		}
	}
	if a.format != "hex" && a.format != "base64" {
		return "", usagef("--output-format %q: want hex or base64", a.format)
	}
	if a.ovmf == "" {
		return "", usagef("missing --ovmf FILE")
	}
	var d [48]byte
	switch a.mode {
	case "snp:ovmf-hash":
		img, err := os.ReadFile(a.ovmf)
		if err != nil {
			return "", err
		}
		if d, err = launch.OVMFDigest(img); err != nil {
			return "", fmt.Errorf("%s: %w", a.ovmf, err)
		}
	case "snp":
		o, err := a.options()
		if err != nil {
			return "", err
		}
		if d, err = launch.Digest(o); err != nil {
			return "", fmt.Errorf("%s: %w", a.ovmf, err)
		}
	default:
		return "", usagef("--mode %q: want snp or snp:ovmf-hash", a.mode)
	}
	if a.format == "base64" {
		return base64.StdEncoding.EncodeToString(d[:]), nil
	}
	return hex.EncodeToString(d[:]), nil
}
