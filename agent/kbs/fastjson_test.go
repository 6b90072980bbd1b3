package kbs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestByteArrayDecoding: expected values from RFC 8259's number grammar and
// encoding/json's documented rules (integers only into integer types; null
// into a non-pointer is a no-op, so an array element null stays 0).
func TestByteArrayDecoding(t *testing.T) {
	tests := []struct {
		in   string
		want []byte // nil: refused
	}{
		{"[]", []byte{}},
		{"[0]", []byte{0}},
		{"[1,2,255]", []byte{1, 2, 255}},
		{" [ 1 ,\n\t2\r] ", []byte{1, 2}},
		{"[null]", []byte{0}},
		{"[7,null,9]", []byte{7, 0, 9}},
		{"[256]", nil},
		{"[-1]", nil},
		{"[-0]", nil},
		{"[+1]", nil},
		{"[01]", nil},
		{"[00]", nil},
		{"[1.0]", nil},
		{"[1e2]", nil},
		{"[1E0]", nil},
		{"[0x1]", nil},
		{"[1,]", nil},
		{"[,1]", nil},
		{"[1 2]", nil},
		{`["1"]`, nil},
		{"[true]", nil},
		{`"AQI="`, nil},
		{"null", nil},
		{"[1] x", nil},
		{"[1][2]", nil},
		{"[18446744073709551617]", nil},
		{"", nil},
	}
	for _, tc := range tests {
		var b byteArray
		err := b.UnmarshalJSON([]byte(tc.in))
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("%q: accepted as %v", tc.in, []byte(b))
		case tc.want != nil && (err != nil || !bytes.Equal(b, tc.want) || b == nil):
			t.Errorf("%q: %v, %v; want %v", tc.in, []byte(b), err, tc.want)
		}
	}
}

// FuzzByteArray: the fast path and encoding/json accept and refuse the same
// inputs and give the same bytes.
func FuzzByteArray(f *testing.F) {
	for _, s := range []string{"[]", "[1,2,255]", " [ 1 , 2 ] ", "[256]", "[-1]", "[1.0]", "[1e2]", "[01]",
		"[null]", "[1,]", `"AQI="`, "null", "[1] x", "[18446744073709551616]", "[0,0,0]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow byteArray
		errFast, errSlow := fast.UnmarshalJSON(data), slow.unmarshalSlow(data)
		if (errFast == nil) != (errSlow == nil) || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %v, %v; encoding/json %v, %v", data, []byte(fast), errFast, []byte(slow), errSlow)
		}
	})
}

// evidenceSeeds are canonical evidence documents and non-canonical variants.
func evidenceSeeds(t testing.TB) [][]byte {
	genoa := peerVector(t, "trustee-genoa-evidence.json")
	var indented bytes.Buffer
	if err := json.Indent(&indented, genoa, "", "  "); err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{genoa, indented.Bytes(),
		bytes.Replace(genoa, []byte(`"version"`), []byte(`"Version"`), 1),
		bytes.Replace(genoa, []byte(`"vmpl":`), []byte(`"vmpl":1,"vmpl":`), 1),
		bytes.Replace(genoa, []byte(`"cert_chain":[`), []byte(`"cert_chain":null,"x":[`), 1),
		bytes.Replace(genoa, []byte(`"vmpl":0`), []byte(`"vmpl":null`), 1),
		bytes.Replace(genoa, []byte(`"VCEK"`), []byte(`"V\u0043EK"`), 1),
	}
	seeds = append(seeds, []byte(smallEvidence))
	for _, v := range []uint32{2, 3, 5} {
		for _, fam := range []byte{0x19, 0x1A} {
			ev, err := EncodeSNPEvidence(synthReport(v, fam), []Cert{{Type: "ARK", DER: []byte{1, 2}}})
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, ev)
		}
	}
	return seeds
}

// smallEvidence is canonical JSON with every member and tiny arrays, a seed
// the fuzzer can mutate structurally (its shape is refused only later).
const smallEvidence = `{"attestation_report":{"version":5,"guest_svn":0,"policy":196608,"family_id":[1],` +
	`"image_id":[],"vmpl":0,"sig_algo":1,"current_tcb":{"fmc":null,"bootloader":1,"tee":0,"snp":2,"microcode":3},` +
	`"plat_info":18446744073709551615,"key_info":0,"report_data":[0],"measurement":[255],"host_data":[],` +
	`"id_key_digest":[],"author_key_digest":[],"report_id":[],"report_id_ma":[],` +
	`"reported_tcb":{"fmc":7,"bootloader":0,"tee":0,"snp":0,"microcode":0},"cpuid_fam_id":25,"cpuid_mod_id":null,` +
	`"cpuid_step":0,"chip_id":[9,8],"committed_tcb":{"fmc":null,"bootloader":0,"tee":0,"snp":0,"microcode":0},` +
	`"current":{"major":1,"minor":55,"build":0},"committed":{"major":1,"minor":55,"build":0},` +
	`"launch_tcb":{"fmc":null,"bootloader":0,"tee":0,"snp":0,"microcode":0},"launch_mit_vector":null,` +
	`"current_mit_vector":4294967296,"signature":{"r":[1],"s":[2]}},"cert_chain":[{"cert_type":"VCEK","data":[48]}]}`

func TestFastEvidenceIsUsed(t *testing.T) {
	for i, seed := range evidenceSeeds(t) {
		_, ok := decodeEvidenceFast(seed)
		if canonical := i < 2 || i >= 7; ok != canonical {
			t.Errorf("seed %d: fast path ok = %v, want %v", i, ok, canonical)
		}
	}
}

// FuzzEvidenceFast: whatever the fast path accepts, encoding/json decodes
// to the same values, so DecodeSNPEvidence behaves as it did without it.
func FuzzEvidenceFast(f *testing.F) {
	for _, s := range evidenceSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeEvidenceFast(data)
		if !ok {
			return
		}
		slow, err := decodeEvidenceJSON(data)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path decoded\n%+v\nencoding/json\n%+v", fast, slow)
		}
	})
}

// TestFastEvidenceNeedsEveryMember removes each report member in turn: the
// fast path must give up exactly where encoding/json leaves a zero value.
func TestFastEvidenceNeedsEveryMember(t *testing.T) {
	for i, m := range reportReaders {
		if i < len(requiredReportKeys) && requiredReportKeys[i] != m.name {
			t.Fatalf("reportReaders[%d] is %s, requiredReportKeys has %s", i, m.name, requiredReportKeys[i])
		}
	}
	for _, k := range requiredReportKeys {
		data := mutateGenoa(t, func(_, r map[string]any) { delete(r, k) })
		if _, ok := decodeEvidenceFast(data); ok {
			t.Errorf("fast path accepted a report without %s", k)
		}
	}
	for _, path := range [][2]string{{"current_tcb", "fmc"}, {"launch_tcb", "snp"}, {"current", "build"}, {"signature", "s"}} {
		data := mutateGenoa(t, func(_, r map[string]any) { delete(r[path[0]].(map[string]any), path[1]) })
		if _, ok := decodeEvidenceFast(data); ok {
			t.Errorf("fast path accepted %s without %s", path[0], path[1])
		}
	}
}

// attestationBody wraps evidence in an attestation request body.
func attestationBody(t testing.TB, evidence []byte) []byte {
	comp, err := json.Marshal(CompositeEvidence{PrimaryEvidence: evidence})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Attestation{RuntimeData: RuntimeData{Nonce: "9tfvQK6A6gnaMjzyWJTzd0JHwZygJGc8+MKuG3fxHqk=",
		TeePubKey: JWK{Kty: "EC", Crv: "P-256", Alg: AlgECDHESA256KW, X: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
			Y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}}, TeeEvidence: comp})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// slowAttestation is the general decoding ParseSNPAttestation stands in for.
func slowAttestation(body []byte) (*Attestation, []byte, []Cert, error) {
	var att Attestation
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&att); err != nil {
		return nil, nil, nil, err
	}
	var comp CompositeEvidence
	if err := json.Unmarshal(att.TeeEvidence, &comp); err != nil {
		return nil, nil, nil, err
	}
	report, certs, err := DecodeSNPEvidence(comp.PrimaryEvidence)
	return &att, report, certs, err
}

func TestParseSNPAttestation(t *testing.T) {
	body := attestationBody(t, peerVector(t, "trustee-genoa-evidence.json"))
	att, report, certs, ok := ParseSNPAttestation(body)
	if !ok {
		t.Fatal("fast path refused the body the Go client writes")
	}
	want, wantReport, wantCerts, err := slowAttestation(body)
	if err != nil || !reflect.DeepEqual(att, want) || !bytes.Equal(report, wantReport) || !reflect.DeepEqual(certs, wantCerts) {
		t.Fatalf("fast and general decoding differ (general err %v)", err)
	}
	for _, variant := range []string{
		strings.Replace(string(body), `"init-data":null`, `"init-data":{}`, 1),
		strings.Replace(string(body), `"additional_evidence":""`, `"additional_evidence":"","more":1`, 1),
		strings.Replace(string(body), `"nonce"`, `"Nonce"`, 1),
		strings.Replace(string(body), `"kty"`, `"kid":"1","kty"`, 1),
	} {
		if _, _, _, ok := ParseSNPAttestation([]byte(variant)); ok {
			t.Errorf("fast path accepted a non-canonical body: %.80s", variant)
		}
	}
}

// FuzzParseSNPAttestation: whatever the fast path accepts, the general
// decoding accepts with the same values.
func FuzzParseSNPAttestation(f *testing.F) {
	for _, s := range evidenceSeeds(f) {
		f.Add(attestationBody(f, s))
	}
	f.Add([]byte(`{"runtime-data":{"nonce":"n","tee-pubkey":{}},"tee-evidence":{"primary_evidence":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		att, report, certs, ok := ParseSNPAttestation(body)
		if !ok {
			return
		}
		want, wantReport, wantCerts, err := slowAttestation(body)
		if err != nil {
			t.Fatalf("fast path accepted what the general decoding refuses: %v", err)
		}
		if !reflect.DeepEqual(att, want) || !bytes.Equal(report, wantReport) || !reflect.DeepEqual(certs, wantCerts) {
			t.Fatalf("fast path decoded\n%+v\ngeneral decoding\n%+v", att, want)
		}
	})
}

func BenchmarkParseSNPAttestation(b *testing.B) {
	body := attestationBody(b, peerVector(b, "trustee-genoa-evidence.json"))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, ok := ParseSNPAttestation(body); !ok {
			b.Fatal("not parsed")
		}
	}
}

func BenchmarkGeneralAttestation(b *testing.B) {
	body := attestationBody(b, peerVector(b, "trustee-genoa-evidence.json"))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, err := slowAttestation(body); err != nil {
			b.Fatal(err)
		}
	}
}
