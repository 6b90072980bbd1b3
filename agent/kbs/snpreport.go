package kbs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Raw SEV-SNP ATTESTATION_REPORT layout (AMD SEV-SNP ABI specification,
// table "ATTESTATION_REPORT Structure"), little-endian, as far as the Rust
// sev crate's serde form carries it. Bytes not listed are reserved: the JSON
// form drops them and a verifier re-creates them as zeros.
const (
	snpReportSize  = 0x4A0
	offVersion     = 0x00 // u32
	offGuestSVN    = 0x04 // u32
	offPolicy      = 0x08 // u64
	offVMPL        = 0x30 // u32
	offSigAlgo     = 0x34 // u32
	offCurrentTCB  = 0x38 // TCB_VERSION
	offPlatInfo    = 0x40 // u64
	offKeyInfo     = 0x48 // u32 (SIGNER_INFO); 0x4C..0x50 reserved
	offReportData  = 0x50 // [64]
	offReportedTCB = 0x180
	offCPUIDFam    = 0x188 // u8, version >= 3; 0x18B..0x1A0 reserved
	offCPUIDMod    = 0x189
	offCPUIDStep   = 0x18A
	offCommitTCB   = 0x1E0
	offCurrentVer  = 0x1E8 // build, minor, major; 0x1EB reserved
	offCommitVer   = 0x1EC // build, minor, major; 0x1EF reserved
	offLaunchTCB   = 0x1F0
	offLaunchMit   = 0x1F8 // u64, version >= 5
	offCurrentMit  = 0x200 // u64, version >= 5; then reserved to 0x2A0
	offSigR        = 0x2A0 // [72] little-endian; 0x330..0x4A0 reserved
	offSigS        = 0x2E8 // [72]
	sigCompLen     = 72
	minVersion     = 2
	maxVersion     = 5
	familyTurin    = 0x1A // CPUID family from which TCB_VERSION has an FMC byte
	mitVectorsFrom = 5
)

// byteField maps a fixed-size byte array of the report to its JSON member.
type byteField struct {
	name string
	off  int
	n    int
	get  func(*reportJSON) *byteArray
}

var reportByteFields = []byteField{
	{"family_id", 0x10, 16, func(r *reportJSON) *byteArray { return &r.FamilyID }},
	{"image_id", 0x20, 16, func(r *reportJSON) *byteArray { return &r.ImageID }},
	{"report_data", offReportData, 64, func(r *reportJSON) *byteArray { return &r.ReportData }},
	{"measurement", 0x90, 48, func(r *reportJSON) *byteArray { return &r.Measurement }},
	{"host_data", 0xC0, 32, func(r *reportJSON) *byteArray { return &r.HostData }},
	{"id_key_digest", 0xE0, 48, func(r *reportJSON) *byteArray { return &r.IDKeyDigest }},
	{"author_key_digest", 0x110, 48, func(r *reportJSON) *byteArray { return &r.AuthorKeyDigest }},
	{"report_id", 0x140, 32, func(r *reportJSON) *byteArray { return &r.ReportID }},
	{"report_id_ma", 0x160, 32, func(r *reportJSON) *byteArray { return &r.ReportIDMA }},
	{"chip_id", 0x1A0, 64, func(r *reportJSON) *byteArray { return &r.ChipID }},
	{"signature.r", offSigR, sigCompLen, func(r *reportJSON) *byteArray { return &r.Signature.R }},
	{"signature.s", offSigS, sigCompLen, func(r *reportJSON) *byteArray { return &r.Signature.S }},
}

// tcbField maps a TCB_VERSION of the report to its JSON member.
type tcbField struct {
	name string
	off  int
	get  func(*reportJSON) *tcbJSON
}

var reportTCBFields = []tcbField{
	{"current_tcb", offCurrentTCB, func(r *reportJSON) *tcbJSON { return &r.CurrentTCB }},
	{"reported_tcb", offReportedTCB, func(r *reportJSON) *tcbJSON { return &r.ReportedTCB }},
	{"committed_tcb", offCommitTCB, func(r *reportJSON) *tcbJSON { return &r.CommittedTCB }},
	{"launch_tcb", offLaunchTCB, func(r *reportJSON) *tcbJSON { return &r.LaunchTCB }},
}

var le = binary.LittleEndian

// reportFromRaw lifts a raw report into its JSON form.
func reportFromRaw(raw []byte) (*reportJSON, error) {
	if len(raw) != snpReportSize {
		return nil, fmt.Errorf("report is %d bytes, want %d", len(raw), snpReportSize)
	}
	r := &reportJSON{
		Version: le.Uint32(raw[offVersion:]), GuestSVN: le.Uint32(raw[offGuestSVN:]),
		Policy: le.Uint64(raw[offPolicy:]), VMPL: le.Uint32(raw[offVMPL:]),
		SigAlgo: le.Uint32(raw[offSigAlgo:]), PlatInfo: le.Uint64(raw[offPlatInfo:]),
		KeyInfo:   le.Uint32(raw[offKeyInfo:]),
		Current:   versionFromRaw(raw[offCurrentVer:]),
		Committed: versionFromRaw(raw[offCommitVer:]),
	}
	if r.Version < minVersion || r.Version > maxVersion {
		return nil, fmt.Errorf("report version %d is not supported (want %d..%d)", r.Version, minVersion, maxVersion)
	}
	for _, f := range reportByteFields {
		*f.get(r) = byteArray(append([]byte(nil), raw[f.off:f.off+f.n]...))
	}
	turin := false
	if r.Version >= 3 {
		r.CPUIDFamID, r.CPUIDModID, r.CPUIDStep = u8p(raw[offCPUIDFam]), u8p(raw[offCPUIDMod]), u8p(raw[offCPUIDStep])
		turin = raw[offCPUIDFam] >= familyTurin
	}
	for _, f := range reportTCBFields {
		*f.get(r) = tcbFromRaw(raw[f.off:f.off+8], turin)
	}
	if r.Version >= mitVectorsFrom {
		r.LaunchMitVector, r.CurrentMitVector = u64p(le.Uint64(raw[offLaunchMit:])), u64p(le.Uint64(raw[offCurrentMit:]))
	}
	return r, nil
}

// toRaw lowers the JSON form to the 0x4A0-byte report, reserved bytes zero,
// exactly as a verifier re-creating the signed bytes does.
func (r *reportJSON) toRaw() ([]byte, error) {
	turin, err := r.checkShape()
	if err != nil {
		return nil, err
	}
	raw := make([]byte, snpReportSize)
	le.PutUint32(raw[offVersion:], r.Version)
	le.PutUint32(raw[offGuestSVN:], r.GuestSVN)
	le.PutUint64(raw[offPolicy:], r.Policy)
	le.PutUint32(raw[offVMPL:], r.VMPL)
	le.PutUint32(raw[offSigAlgo:], r.SigAlgo)
	le.PutUint64(raw[offPlatInfo:], r.PlatInfo)
	le.PutUint32(raw[offKeyInfo:], r.KeyInfo)
	for _, f := range reportByteFields {
		copy(raw[f.off:f.off+f.n], *f.get(r))
	}
	for _, f := range reportTCBFields {
		f.get(r).put(raw[f.off:f.off+8], turin)
	}
	if r.Version >= 3 {
		raw[offCPUIDFam], raw[offCPUIDMod], raw[offCPUIDStep] = *r.CPUIDFamID, *r.CPUIDModID, *r.CPUIDStep
	}
	r.Current.put(raw[offCurrentVer:])
	r.Committed.put(raw[offCommitVer:])
	if r.LaunchMitVector != nil {
		le.PutUint64(raw[offLaunchMit:], *r.LaunchMitVector)
	}
	if r.CurrentMitVector != nil {
		le.PutUint64(raw[offCurrentMit:], *r.CurrentMitVector)
	}
	return raw, nil
}

// checkShape rejects JSON that no raw report could have produced, and says
// whether the TCB values use the Turin layout (with an FMC byte).
func (r *reportJSON) checkShape() (turin bool, err error) {
	if r.Version < minVersion || r.Version > maxVersion {
		return false, fmt.Errorf("version %d is not supported (want %d..%d)", r.Version, minVersion, maxVersion)
	}
	for _, f := range reportByteFields {
		if got := len(*f.get(r)); got != f.n {
			return false, fmt.Errorf("%s has %d bytes, want %d", f.name, got, f.n)
		}
	}
	cpuid := []*uint8{r.CPUIDFamID, r.CPUIDModID, r.CPUIDStep}
	for _, c := range cpuid {
		if (c == nil) != (r.Version < 3) {
			return false, fmt.Errorf("cpuid_fam_id/cpuid_mod_id/cpuid_step must be null exactly when version < 3 (version %d)", r.Version)
		}
	}
	if r.Version < mitVectorsFrom && (r.LaunchMitVector != nil || r.CurrentMitVector != nil) {
		return false, fmt.Errorf("mitigation vectors are not part of a version %d report", r.Version)
	}
	turin = r.Version >= 3 && *r.CPUIDFamID >= familyTurin
	for _, f := range reportTCBFields {
		if (f.get(r).FMC != nil) != turin {
			return false, fmt.Errorf("%s.fmc must be set exactly for CPUID family >= 0x%x", f.name, familyTurin)
		}
	}
	return turin, nil
}

// tcbFromRaw decodes a TCB_VERSION: legacy layout bootloader, tee,
// 4 reserved, snp, microcode; Turin layout fmc, bootloader, tee, snp,
// 3 reserved, microcode.
func tcbFromRaw(b []byte, turin bool) tcbJSON {
	if turin {
		return tcbJSON{FMC: u8p(b[0]), Bootloader: b[1], TEE: b[2], SNP: b[3], Microcode: b[7]}
	}
	return tcbJSON{Bootloader: b[0], TEE: b[1], SNP: b[6], Microcode: b[7]}
}

func (t *tcbJSON) put(b []byte, turin bool) {
	if turin {
		b[0], b[1], b[2], b[3], b[7] = *t.FMC, t.Bootloader, t.TEE, t.SNP, t.Microcode
		return
	}
	b[0], b[1], b[6], b[7] = t.Bootloader, t.TEE, t.SNP, t.Microcode
}

func versionFromRaw(b []byte) versionJSON {
	return versionJSON{Build: b[0], Minor: b[1], Major: b[2]}
}

func (v versionJSON) put(b []byte) {
	b[0], b[1], b[2] = v.Build, v.Minor, v.Major
}

func u8p(v uint8) *uint8    { return &v }
func u64p(v uint64) *uint64 { return &v }

// errNotRepresentable reports raw bytes the JSON form cannot carry.
var errNotRepresentable = errors.New("report has non-zero reserved bytes that Trustee's JSON form cannot carry")

// firstDiff returns the first offset at which a and b (same length) differ.
func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
