package kbs

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

// synthReport builds a raw report by hand from the ABI table offsets.
func synthReport(version uint32, family byte) []byte {
	raw := make([]byte, snpReportSize)
	binary.LittleEndian.PutUint32(raw[0x00:], version)
	binary.LittleEndian.PutUint64(raw[0x08:], 0x30000)
	binary.LittleEndian.PutUint32(raw[0x34:], 1)
	for i := range 48 {
		raw[0x90+i] = byte(i + 1)
	}
	if version >= 3 {
		raw[0x188], raw[0x189], raw[0x18A] = family, 0x11, 0
	}
	raw[0x2A0], raw[0x2E8+71] = 0xAA, 0xBB
	return raw
}

func TestTurinTCBLayout(t *testing.T) {
	raw := synthReport(3, 0x1A)
	// Turin TCB_VERSION: fmc, bootloader, tee, snp, 3 reserved, microcode.
	copy(raw[0x180:], []byte{1, 2, 3, 4, 0, 0, 0, 5})
	ev, err := EncodeSNPEvidence(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `"reported_tcb":{"fmc":1,"bootloader":2,"tee":3,"snp":4,"microcode":5}`
	if !strings.Contains(string(ev), want) {
		t.Errorf("evidence lacks %s:\n%s", want, ev)
	}
	if !strings.Contains(string(ev), `"cert_chain":null`) {
		t.Error("no certificates must encode as cert_chain null")
	}
	back, certs, err := DecodeSNPEvidence(ev)
	if err != nil || !bytes.Equal(back, raw) || certs != nil {
		t.Fatalf("round trip: err %v, equal %v, certs %v", err, bytes.Equal(back, raw), certs)
	}
}

func TestMitigationVectorsV5(t *testing.T) {
	raw := synthReport(5, 0x19)
	binary.LittleEndian.PutUint64(raw[0x1F8:], 7)
	binary.LittleEndian.PutUint64(raw[0x200:], 1<<40)
	ev, err := EncodeSNPEvidence(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ev), `"launch_mit_vector":7,"current_mit_vector":1099511627776`) {
		t.Errorf("mitigation vectors missing:\n%s", ev)
	}
	back, _, err := DecodeSNPEvidence(ev)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("round trip: %v", err)
	}
	// Older sev releases omit the members; they then decode as zero.
	noMit := strings.Replace(string(ev), `"launch_mit_vector":7,"current_mit_vector":1099511627776,`, "", 1)
	back, _, err = DecodeSNPEvidence([]byte(noMit))
	if err != nil || binary.LittleEndian.Uint64(back[0x1F8:]) != 0 {
		t.Fatalf("v5 without vectors: %v", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		certs  []Cert
		want   string
	}{
		{"short", func(r []byte) []byte { return r[:0x49F] }, nil, "bytes"},
		{"version 1", func(r []byte) []byte { r[0] = 1; return r }, nil, "version"},
		{"version 6", func(r []byte) []byte { r[0] = 6; return r }, nil, "version"},
		{"reserved after key_info", func(r []byte) []byte { r[0x4C] = 1; return r }, nil, "0x4c"},
		{"reserved in legacy TCB", func(r []byte) []byte { r[0x3A] = 1; return r }, nil, "0x3a"},
		{"reserved after cpuid", func(r []byte) []byte { r[0x18B] = 1; return r }, nil, "0x18b"},
		{"mit vector in v3", func(r []byte) []byte { r[0x1F8] = 1; return r }, nil, "0x1f8"},
		{"reserved after signature", func(r []byte) []byte { r[0x330] = 1; return r }, nil, "0x330"},
		{"unknown cert type", func(r []byte) []byte { return r }, []Cert{{Type: "PEK", DER: []byte{1}}}, "PEK"},
		{"empty cert", func(r []byte) []byte { return r }, []Cert{{Type: "ASK"}}, "empty"},
	}
	for _, tc := range tests {
		_, err := EncodeSNPEvidence(tc.mutate(synthReport(3, 0x19)), tc.certs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

// mutateGenoa edits the Genoa evidence document and re-serialises it.
func mutateGenoa(t *testing.T, edit func(doc, rep map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(peerVector(t, "trustee-genoa-evidence.json"), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc, doc["attestation_report"].(map[string]any))
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(doc, rep map[string]any)
		want string
	}{
		{"unknown top-level member", func(d, _ map[string]any) { d["extra"] = 1 }, "extra"},
		{"unknown report member", func(_, r map[string]any) { r["_reserved_0"] = 0 }, "_reserved_0"},
		{"short measurement", func(_, r map[string]any) { r["measurement"] = r["measurement"].([]any)[:47] }, "measurement has 47 bytes"},
		{"long chip_id", func(_, r map[string]any) { r["chip_id"] = append(r["chip_id"].([]any), 0.0) }, "chip_id has 65 bytes"},
		{"base64 report_data", func(_, r map[string]any) { r["report_data"] = strings.Repeat("A", 88) }, "array of integers"},
		{"byte over 255", func(_, r map[string]any) { r["host_data"].([]any)[0] = 256.0 }, "array of integers"},
		{"missing measurement", func(_, r map[string]any) { delete(r, "measurement") }, "measurement is missing"},
		{"missing cpuid_step", func(_, r map[string]any) { delete(r, "cpuid_step") }, "cpuid_step is missing"},
		{"missing report", func(d, _ map[string]any) { delete(d, "attestation_report") }, "attestation_report is missing"},
		{"version 6", func(_, r map[string]any) { r["version"] = 6 }, "version 6"},
		{"v3 without cpuid", func(_, r map[string]any) { r["cpuid_fam_id"] = nil }, "cpuid"},
		{"v2 with cpuid", func(_, r map[string]any) { r["version"] = 2 }, "cpuid"},
		{"fmc before Turin", func(_, r map[string]any) { r["launch_tcb"].(map[string]any)["fmc"] = 1 }, "launch_tcb.fmc"},
		{"Turin without fmc", func(_, r map[string]any) { r["cpuid_fam_id"] = 0x1A }, "fmc"},
		{"mit vector in v3", func(_, r map[string]any) { r["launch_mit_vector"] = 1 }, "mitigation"},
		{"negative vmpl", func(_, r map[string]any) { r["vmpl"] = -1 }, "vmpl"},
		{"fractional svn", func(_, r map[string]any) { r["guest_svn"] = 1.5 }, "guest_svn"},
		{"unknown cert type", func(d, _ map[string]any) { d["cert_chain"].([]any)[0].(map[string]any)["cert_type"] = "PEK" }, "PEK"},
		{"empty cert", func(d, _ map[string]any) { d["cert_chain"].([]any)[0].(map[string]any)["data"] = []any{} }, "empty"},
	}
	for _, tc := range tests {
		_, _, err := DecodeSNPEvidence(mutateGenoa(t, tc.edit))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{"", "null", "[]", "{", `{"attestation_report":null}`, peerVectorString(t) + " {}"} {
		if _, _, err := DecodeSNPEvidence([]byte(bad)); err == nil {
			t.Errorf("DecodeSNPEvidence(%.40q) succeeded", bad)
		}
	}
}

func peerVectorString(t *testing.T) string {
	return string(peerVector(t, "trustee-genoa-evidence.json"))
}

func FuzzDecodeSNPEvidence(f *testing.F) {
	f.Add(peerVector(f, "trustee-genoa-evidence.json"))
	for _, v := range []uint32{2, 3, 5} {
		ev, err := EncodeSNPEvidence(synthReport(v, 0x1A), []Cert{{Type: "ARK", DER: []byte{1, 2}}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, certs, err := DecodeSNPEvidence(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode back to the same bytes.
		ev, err := EncodeSNPEvidence(raw, certs)
		if err != nil {
			t.Fatalf("decoded report does not re-encode: %v", err)
		}
		raw2, _, err := DecodeSNPEvidence(ev)
		if err != nil || !bytes.Equal(raw, raw2) {
			t.Fatalf("unstable round trip: %v", err)
		}
	})
}
