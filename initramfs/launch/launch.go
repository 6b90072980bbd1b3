// Package launch computes the SEV-SNP launch digest (MEASUREMENT) of a guest
// from its firmware, kernel, initrd, command line and vCPU setup, exactly as the
// AMD security processor does during SNP_LAUNCH_UPDATE (AMD SNP ABI "PAGE_INFO").
package launch

import "errors"

// VMM names the hypervisor flavour whose initial register state (VMSA) is measured.
type VMM string

// Supported VMM types.
const (
	VMMQEMU VMM = "qemu"
	VMMEC2  VMM = "ec2"
	VMMGCE  VMM = "gce"
)

// Options are the launch inputs. CONTRACT (may be extended, not changed):
type Options struct {
	OVMF          []byte  // whole OVMF image (required: its footer table gives metadata and reset vector)
	OVMFHash      []byte  // optional 48-byte seed digest replacing the OVMF pages' measurement
	VCPUs         int     // number of vCPUs (≥ 1)
	VCPUSig       uint32  // CPUID(1).EAX signature of the vCPU type (see VCPUSignature)
	VMM           VMM     // qemu, ec2 or gce
	GuestFeatures uint64  // SEV_FEATURES in the VMSA, e.g. 0x21
	Kernel        *Kernel // nil: no kernel hashes page
}

// Kernel is the direct-boot triple whose SHA-256 hashes go into the hashes table.
type Kernel struct {
	Kernel, Initrd []byte
	Cmdline        string
}

// Digest returns the 48-byte launch digest.
func Digest(o Options) ([48]byte, error) { return [48]byte{}, errors.New("launch: not implemented") }
