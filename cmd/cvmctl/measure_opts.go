package main

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"

	"github.com/cvminit/cvminit/initramfs/launch"
)

// options turns the flags of mode snp into launch options, reading the files.
func (a *measureArgs) options() (launch.Options, error) {
	o := launch.Options{VCPUs: a.vcpus, VMM: launch.VMM(strings.ToLower(a.vmm))}
	if a.vcpus < 1 || a.vcpus > launch.MaxVCPUs {
		return o, usagef("--vcpus %d: want 1..%d", a.vcpus, launch.MaxVCPUs)
	}
	if o.VMM != launch.VMMQEMU && o.VMM != launch.VMMEC2 && o.VMM != launch.VMMGCE {
		return o, usagef("--vmm-type %q: want qemu, ec2 or gce", a.vmm)
	}
	var err error
	if o.GuestFeatures, err = strconv.ParseUint(a.features, 0, 64); err != nil {
		return o, usagef("--guest-features %q: not a number", a.features)
	}
	if o.VCPUSig, err = a.signature(o.VMM); err != nil {
		return o, err
	}
	if a.ovmfSHA != "" {
		if o.OVMFHash, err = hex.DecodeString(a.ovmfSHA); err != nil || len(o.OVMFHash) != 48 {
			return o, usagef("--snp-ovmf-hash: want 96 hex digits")
		}
	}
	if (a.set["initrd"] || a.set["append"]) && !a.set["kernel"] {
		return o, usagef("--initrd and --append need --kernel")
	}
	if o.OVMF, err = os.ReadFile(a.ovmf); err != nil {
		return o, err
	}
	if a.set["kernel"] {
		o.Kernel, err = a.readKernel()
	}
	return o, err
}

// signature picks the vCPU signature from exactly one of --vcpu-type,
// --vcpu-sig or --vcpu-family; QEMU needs one, EC2 and GCE ignore it.
func (a *measureArgs) signature(vmm launch.VMM) (uint32, error) {
	n := 0
	for _, f := range []string{"vcpu-type", "vcpu-sig", "vcpu-family"} {
		if a.set[f] {
			n++
		}
	}
	switch {
	case n > 1:
		return 0, usagef("give only one of --vcpu-type, --vcpu-sig, --vcpu-family")
	case (a.set["vcpu-model"] || a.set["vcpu-stepping"]) && !a.set["vcpu-family"]:
		return 0, usagef("--vcpu-model and --vcpu-stepping need --vcpu-family")
	case a.set["vcpu-type"]:
		sig, err := launch.VCPUSignature(a.vcpuType)
		if err != nil {
			return 0, usagef("--vcpu-type %q: unknown (known: %s)", a.vcpuType, strings.Join(launch.VCPUTypes(), ", "))
		}
		return sig, nil
	case a.set["vcpu-sig"]:
		sig, err := strconv.ParseUint(a.vcpuSig, 0, 32)
		if err != nil {
			return 0, usagef("--vcpu-sig %q: not a 32-bit number", a.vcpuSig)
		}
		return uint32(sig), nil
	case a.set["vcpu-family"]:
		if a.family > 0xff+0xf || a.model > 0xff || a.stepping > 0xf {
			return 0, usagef("--vcpu-family/--vcpu-model/--vcpu-stepping out of range")
		}
		return launch.CPUSignature(uint32(a.family), uint32(a.model), uint32(a.stepping)), nil
	case vmm == launch.VMMQEMU:
		return 0, usagef("missing --vcpu-type, --vcpu-sig or --vcpu-family (needed with --vmm-type qemu)")
	}
	return 0, nil
}

func (a *measureArgs) readKernel() (*launch.Kernel, error) {
	k := &launch.Kernel{Cmdline: a.appendLine}
	var err error
	if k.Kernel, err = os.ReadFile(a.kernel); err != nil {
		return nil, err
	}
	if a.initrd != "" {
		if k.Initrd, err = os.ReadFile(a.initrd); err != nil {
			return nil, err
		}
	}
	return k, nil
}
