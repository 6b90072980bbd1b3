// Package launch computes the SEV-SNP launch digest (MEASUREMENT) of a guest
// from its firmware, kernel, initrd, command line and vCPU setup, exactly as the
// AMD security processor does during SNP_LAUNCH_UPDATE (AMD SNP ABI "PAGE_INFO").
//
// It follows virtee/sev-snp-measure (v0.0.13) page by page: the OVMF image as
// normal pages, then the OVMF SEV metadata sections (with QEMU's kernel hashes
// table when a kernel is given), then one VMSA page per vCPU, for QEMU, EC2 and
// GCE. No maintained Go library does this, so it is written here by hand.
package launch

import (
	"fmt"
)

// VMM names the hypervisor flavour whose initial register state (VMSA) is measured.
type VMM string

// Supported VMM types.
const (
	VMMQEMU VMM = "qemu"
	VMMEC2  VMM = "ec2"
	VMMGCE  VMM = "gce"
)

// MaxVCPUs is the largest vCPU count Digest accepts (KVM's upper limit).
const MaxVCPUs = 4096

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
func Digest(o Options) ([48]byte, error) {
	if err := o.check(); err != nil {
		return [48]byte{}, err
	}
	fw, err := ParseOVMF(o.OVMF)
	if err != nil {
		return [48]byte{}, fmt.Errorf("parsing ovmf: %w", err)
	}
	if o.Kernel != nil && !fw.HasSection(SectionKernelHashes) {
		return [48]byte{}, ErrNoKernelHashes
	}
	var g gctx
	if o.OVMFHash != nil {
		copy(g.ld[:], o.OVMFHash)
	} else {
		g.normalPages(fw.GPA(), o.OVMF)
	}
	if err := measureSections(&g, fw, o); err != nil {
		return [48]byte{}, err
	}
	if err := measureVMSAs(&g, fw, o); err != nil {
		return [48]byte{}, err
	}
	return g.ld, nil
}

// OVMFDigest returns the digest after only the OVMF pages, the seed that
// Options.OVMFHash accepts (sev-snp-measure --mode snp:ovmf-hash).
func OVMFDigest(ovmf []byte) ([48]byte, error) {
	fw, err := ParseOVMF(ovmf)
	if err != nil {
		return [48]byte{}, fmt.Errorf("parsing ovmf: %w", err)
	}
	var g gctx
	g.normalPages(fw.GPA(), ovmf)
	return g.ld, nil
}

func (o Options) check() error {
	switch {
	case o.VMM != VMMQEMU && o.VMM != VMMEC2 && o.VMM != VMMGCE:
		return fmt.Errorf("vmm type %q (want qemu, ec2 or gce): %w", o.VMM, ErrBadOption)
	case o.VCPUs < 1 || o.VCPUs > MaxVCPUs:
		return fmt.Errorf("%d vcpus (want 1..%d): %w", o.VCPUs, MaxVCPUs, ErrBadSize)
	case o.OVMFHash != nil && len(o.OVMFHash) != 48:
		return fmt.Errorf("ovmf hash of %d bytes (want 48): %w", len(o.OVMFHash), ErrBadSize)
	}
	return nil
}

// measureSections measures the SEV metadata sections in table order; EC2
// measures the CPUID page after all others.
func measureSections(g *gctx, fw *OVMF, o Options) error {
	for _, s := range fw.sections {
		if err := measureSection(g, fw, o, s); err != nil {
			return err
		}
	}
	if o.VMM == VMMEC2 {
		for _, s := range fw.sections {
			if s.Type == SectionCPUID {
				g.update(pageCPUID, uint64(s.GPA), &[48]byte{})
			}
		}
	}
	return nil
}

func measureSection(g *gctx, fw *OVMF, o Options, s Section) error {
	gpa, size := uint64(s.GPA), uint64(s.Size)
	switch s.Type {
	case SectionSNPSecMem:
		if o.VMM == VMMGCE {
			g.typedPages(pageUnmeasured, gpa, size)
		} else {
			g.typedPages(pageZero, gpa, size)
		}
	case SectionSNPSecrets:
		g.update(pageSecrets, gpa, &[48]byte{})
	case SectionCPUID:
		if o.VMM != VMMEC2 {
			g.update(pageCPUID, gpa, &[48]byte{})
		}
	case SectionSVSMCAA:
		g.typedPages(pageZero, gpa, size)
	case SectionKernelHashes:
		return measureKernelHashes(g, fw, o.Kernel, s)
	}
	return nil
}

// measureKernelHashes measures the hashes page when a kernel is given, else
// the section as zero pages.
func measureKernelHashes(g *gctx, fw *OVMF, k *Kernel, s Section) error {
	if k == nil {
		g.typedPages(pageZero, uint64(s.GPA), uint64(s.Size))
		return nil
	}
	if s.Size != PageSize {
		return fmt.Errorf("kernel hashes section of %#x bytes (want one page): %w", s.Size, ErrBadSize)
	}
	tableGPA, err := fw.HashesTableGPA()
	if err != nil {
		return err
	}
	page, err := hashesPage(k, tableGPA)
	if err != nil {
		return err
	}
	g.normalPages(uint64(s.GPA), page)
	return nil
}

// measureVMSAs measures the BSP's VMSA, then one per AP starting at the
// firmware's SEV-ES reset vector.
func measureVMSAs(g *gctx, fw *OVMF, o Options) error {
	apEIP, err := fw.ResetEIP()
	if err != nil {
		return err
	}
	bsp := vmsaHash(o.VMM, bspEIP, o.VCPUSig, o.GuestFeatures)
	g.vmsaPage(&bsp)
	if o.VCPUs == 1 {
		return nil
	}
	if apEIP == 0 {
		return fmt.Errorf("%d vcpus but the SEV-ES reset vector is 0: %w", o.VCPUs, ErrMalformedOVMF)
	}
	ap := vmsaHash(o.VMM, apEIP, o.VCPUSig, o.GuestFeatures)
	for i := 1; i < o.VCPUs; i++ {
		g.vmsaPage(&ap)
	}
	return nil
}
