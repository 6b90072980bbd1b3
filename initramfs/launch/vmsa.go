package launch

import (
	"crypto/sha512"
	"encoding/binary"
)

// bspEIP is the boot processor's reset vector.
const bspEIP = 0xfffffff0

// Offsets in the VMSA (AMD APM vol. 2 table B-4 "VMSA Layout, State Save
// Area for SEV-ES"; Linux struct sev_es_save_area). Fields not listed stay 0.
const (
	vmsaES          = 0x000 // segments: {u16 selector, u16 attrib, u32 limit, u64 base}
	vmsaCS          = 0x010
	vmsaSS          = 0x020
	vmsaDS          = 0x030
	vmsaFS          = 0x040
	vmsaGS          = 0x050
	vmsaGDTR        = 0x060
	vmsaLDTR        = 0x070
	vmsaIDTR        = 0x080
	vmsaTR          = 0x090
	vmsaEFER        = 0x0d0
	vmsaCR4         = 0x148
	vmsaCR0         = 0x158
	vmsaDR7         = 0x160
	vmsaDR6         = 0x168
	vmsaRFLAGS      = 0x170
	vmsaRIP         = 0x178
	vmsaGPAT        = 0x268
	vmsaRDX         = 0x310
	vmsaSEVFeatures = 0x3b0
	vmsaXCR0        = 0x3e8
	vmsaMXCSR       = 0x408
	vmsaX87FCW      = 0x410
)

// vmmState is what differs between hypervisors in the initial register state
// (sev-snp-measure vmsa.py, v0.0.13).
type vmmState struct {
	csAttr, ssAttr, trAttr uint16
	rdx, gPAT              uint64
	mxcsr                  uint32
	fcw                    uint16
}

// defaultGPAT is the PAT MSR reset value (AMD APM vol. 2 section A.3).
const defaultGPAT = 0x0007040600070406

func stateFor(vmm VMM, eip, sig uint32) vmmState {
	switch vmm {
	case VMMEC2:
		cs := uint16(0x9b)
		if eip == bspEIP {
			cs = 0x9a
		}
		return vmmState{csAttr: cs, ssAttr: 0x92, trAttr: 0x83, rdx: 0x600, gPAT: defaultGPAT}
	case VMMGCE: // like EC2 RDX 0x600, and GCE programs its own PAT
		return vmmState{csAttr: 0x9b, ssAttr: 0x93, trAttr: 0x8b, rdx: 0x600, gPAT: 0x00070106}
	default: // QEMU/KVM: RDX holds the CPUID signature; FPU state as KVM resets it
		return vmmState{csAttr: 0x9b, ssAttr: 0x93, trAttr: 0x8b, rdx: uint64(sig), gPAT: defaultGPAT,
			mxcsr: 0x1f80, fcw: 0x37f}
	}
}

// vmsaPage builds the initial VMSA of a vCPU starting at eip.
func vmsaPage(vmm VMM, eip, sig uint32, features uint64) []byte {
	p := make([]byte, PageSize)
	st := stateFor(vmm, eip, sig)
	seg := func(off int, sel, attr uint16, limit uint32, base uint64) {
		binary.LittleEndian.PutUint16(p[off:], sel)
		binary.LittleEndian.PutUint16(p[off+2:], attr)
		binary.LittleEndian.PutUint32(p[off+4:], limit)
		binary.LittleEndian.PutUint64(p[off+8:], base)
	}
	seg(vmsaES, 0, 0x93, 0xffff, 0)
	seg(vmsaCS, 0xf000, st.csAttr, 0xffff, uint64(eip&0xffff0000))
	seg(vmsaSS, 0, st.ssAttr, 0xffff, 0)
	seg(vmsaDS, 0, 0x93, 0xffff, 0)
	seg(vmsaFS, 0, 0x93, 0xffff, 0)
	seg(vmsaGS, 0, 0x93, 0xffff, 0)
	seg(vmsaGDTR, 0, 0, 0xffff, 0)
	seg(vmsaLDTR, 0, 0x82, 0xffff, 0)
	seg(vmsaIDTR, 0, 0, 0xffff, 0)
	seg(vmsaTR, 0, st.trAttr, 0xffff, 0)
	for _, f := range []struct {
		off int
		v   uint64
	}{
		{vmsaEFER, 0x1000}, // EFER.SVME, set by KVM
		{vmsaCR4, 0x40},    // CR4.MCE, set by KVM
		{vmsaCR0, 0x10},
		{vmsaDR7, 0x400},
		{vmsaDR6, 0xffff0ff0},
		{vmsaRFLAGS, 0x2},
		{vmsaRIP, uint64(eip & 0xffff)},
		{vmsaGPAT, st.gPAT},
		{vmsaRDX, st.rdx},
		{vmsaSEVFeatures, features},
		{vmsaXCR0, 0x1},
	} {
		binary.LittleEndian.PutUint64(p[f.off:], f.v)
	}
	binary.LittleEndian.PutUint32(p[vmsaMXCSR:], st.mxcsr)
	binary.LittleEndian.PutUint16(p[vmsaX87FCW:], st.fcw)
	return p
}

// vmsaHash returns the SHA-384 of the initial VMSA of a vCPU starting at eip.
func vmsaHash(vmm VMM, eip, sig uint32, features uint64) [48]byte {
	return sha512.Sum384(vmsaPage(vmm, eip, sig, features))
}
