package evidence_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"
)

// trusteeTCB is Trustee's TcbVersion JSON (fmc is null before Turin).
type trusteeTCB struct {
	FMC        *uint8 `json:"fmc"`
	Bootloader uint8  `json:"bootloader"`
	TEE        uint8  `json:"tee"`
	SNP        uint8  `json:"snp"`
	Microcode  uint8  `json:"microcode"`
}

// bytes lays the TCB out as Milan/Genoa TCB_VERSION (FMC unsupported here).
func (t trusteeTCB) bytes(tb testing.TB) []byte {
	if t.FMC != nil {
		tb.Fatal("Turin TCB layout not handled by this test decoder")
	}
	return []byte{t.Bootloader, t.TEE, 0, 0, 0, 0, t.SNP, t.Microcode}
}

type trusteeVersion struct{ Major, Minor, Build uint8 }

// trusteeReport is the subset of Trustee's AttestationReport JSON (arrays
// of numbers for byte fields) that a version 3 report uses; byte arrays
// and the signature are read from the generic map.
type trusteeReport struct {
	Version      uint32         `json:"version"`
	GuestSVN     uint32         `json:"guest_svn"`
	Policy       uint64         `json:"policy"`
	VMPL         uint32         `json:"vmpl"`
	SigAlgo      uint32         `json:"sig_algo"`
	CurrentTCB   trusteeTCB     `json:"current_tcb"`
	PlatInfo     uint64         `json:"plat_info"`
	KeyInfo      uint32         `json:"key_info"`
	ReportedTCB  trusteeTCB     `json:"reported_tcb"`
	CPUIDFamily  uint8          `json:"cpuid_fam_id"`
	CPUIDModel   uint8          `json:"cpuid_mod_id"`
	CPUIDStep    uint8          `json:"cpuid_step"`
	CommittedTCB trusteeTCB     `json:"committed_tcb"`
	Current      trusteeVersion `json:"current"`
	Committed    trusteeVersion `json:"committed"`
	LaunchTCB    trusteeTCB     `json:"launch_tcb"`
}

// decodeTrusteeEvidence turns Trustee's SNP evidence JSON into a raw report
// (SNP ABI offsets, REFERENCE.md section 2) and the VCEK DER. It is the
// test's own minimal decoder, independent of the code under test.
func decodeTrusteeEvidence(t *testing.T, path string) ([]byte, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("peer vector missing: %v", err)
	}
	var doc struct {
		Report    json.RawMessage `json:"attestation_report"`
		CertChain []struct {
			Type string `json:"cert_type"`
			Data []int  `json:"data"`
		} `json:"cert_chain"`
	}
	var r trusteeReport
	var fields map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Report, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Report, &fields); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 0x4A0)
	le := binary.LittleEndian
	le.PutUint32(raw[0x00:], r.Version)
	le.PutUint32(raw[0x04:], r.GuestSVN)
	le.PutUint64(raw[0x08:], r.Policy)
	le.PutUint32(raw[0x30:], r.VMPL)
	le.PutUint32(raw[0x34:], r.SigAlgo)
	copy(raw[0x38:], r.CurrentTCB.bytes(t))
	le.PutUint64(raw[0x40:], r.PlatInfo)
	le.PutUint32(raw[0x48:], r.KeyInfo)
	for name, off := range map[string]int{"family_id": 0x10, "image_id": 0x20, "report_data": 0x50,
		"measurement": 0x90, "host_data": 0xC0, "id_key_digest": 0xE0, "author_key_digest": 0x110,
		"report_id": 0x140, "report_id_ma": 0x160, "chip_id": 0x1A0} {
		copy(raw[off:], numbers(t, fields[name]))
	}
	copy(raw[0x180:], r.ReportedTCB.bytes(t))
	raw[0x188], raw[0x189], raw[0x18A] = r.CPUIDFamily, r.CPUIDModel, r.CPUIDStep
	copy(raw[0x1E0:], r.CommittedTCB.bytes(t))
	raw[0x1E8], raw[0x1E9], raw[0x1EA] = r.Current.Build, r.Current.Minor, r.Current.Major
	raw[0x1EC], raw[0x1ED], raw[0x1EE] = r.Committed.Build, r.Committed.Minor, r.Committed.Major
	copy(raw[0x1F0:], r.LaunchTCB.bytes(t))
	sig := fields["signature"].(map[string]any)
	copy(raw[0x2A0:], numbers(t, sig["r"]))
	copy(raw[0x2E8:], numbers(t, sig["s"]))
	if len(doc.CertChain) != 1 || doc.CertChain[0].Type != "VCEK" {
		t.Fatalf("expected one VCEK in cert_chain, got %d entries", len(doc.CertChain))
	}
	return raw, toBytes(doc.CertChain[0].Data)
}

func numbers(t *testing.T, v any) []byte {
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("expected a JSON array of numbers, got %T", v)
	}
	out := make([]byte, len(list))
	for i, n := range list {
		out[i] = byte(n.(float64))
	}
	return out
}

func toBytes(ints []int) []byte {
	out := make([]byte, len(ints))
	for i, n := range ints {
		out[i] = byte(n)
	}
	return out
}
