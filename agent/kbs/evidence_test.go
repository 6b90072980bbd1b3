package kbs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"
)

// jsonBytes converts a JSON array of numbers (as decoded into any) to bytes.
func jsonBytes(t *testing.T, v any) []byte {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("not an array: %v", v)
	}
	out := make([]byte, len(arr))
	for i, x := range arr {
		out[i] = byte(x.(float64))
	}
	return out
}

// verifySig checks the AMD signature over raw[0:0x2A0] with the endorsement
// key in der: only a byte-exact report passes.
func verifySig(t *testing.T, raw, der []byte) {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing VCEK/VLEK: %v", err)
	}
	sig, err := abi.ReportToSignatureDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha512.Sum384(raw[:0x2A0])
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("AMD signature does not verify over the re-created report bytes")
	}
}

func TestDecodeTrusteeGenoaEvidence(t *testing.T) {
	data := peerVector(t, "trustee-genoa-evidence.json")
	raw, certs, err := DecodeSNPEvidence(data)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	rep := doc["attestation_report"].(map[string]any)
	// Field offsets from the SNP ABI table (REFERENCE.md §2).
	if v := binary.LittleEndian.Uint32(raw[0x00:]); v != 3 {
		t.Errorf("version at 0x00 = %d, want 3", v)
	}
	if v := binary.LittleEndian.Uint64(raw[0x08:]); v != 196608 {
		t.Errorf("policy at 0x08 = %d, want 196608", v)
	}
	for name, off := range map[string]int{"report_data": 0x50, "measurement": 0x90, "chip_id": 0x1A0, "report_id": 0x140} {
		want := jsonBytes(t, rep[name])
		if !bytes.Equal(raw[off:off+len(want)], want) {
			t.Errorf("%s at 0x%x = %x, want %x", name, off, raw[off:off+len(want)], want)
		}
	}
	wantSigR := jsonBytes(t, rep["signature"].(map[string]any)["r"])
	if !bytes.Equal(raw[0x2A0:0x2E8], wantSigR) {
		t.Errorf("signature r at 0x2A0 differs")
	}
	// Milan/Genoa TCB layout: bootloader, tee, 4 reserved, snp, microcode.
	if got, want := raw[0x180:0x188], []byte{10, 0, 0, 0, 0, 0, 23, 25}; !bytes.Equal(got, want) {
		t.Errorf("reported_tcb at 0x180 = %v, want %v", got, want)
	}
	if got, want := raw[0x188:0x18B], []byte{25, 160, 2}; !bytes.Equal(got, want) {
		t.Errorf("cpuid at 0x188 = %v, want %v", got, want)
	}
	if got, want := raw[0x1E8:0x1EF], []byte{40, 55, 1, 0, 40, 55, 1}; !bytes.Equal(got, want) {
		t.Errorf("current/committed version at 0x1E8 = %v, want %v", got, want)
	}
	if len(certs) != 1 || certs[0].Type != CertTypeVCEK {
		t.Fatalf("certs = %v, want one VCEK", certs)
	}
	verifySig(t, raw, certs[0].DER)
	crossCheckWithGoSevGuest(t, raw, rep)

	// Re-encoding gives the same JSON document Trustee produced.
	again, err := EncodeSNPEvidence(raw, certs)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(data, &a)
	_ = json.Unmarshal(again, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("re-encoded evidence differs from Trustee's:\n%s", again)
	}
	raw2, certs2, err := DecodeSNPEvidence(again)
	if err != nil || !bytes.Equal(raw2, raw) || !reflect.DeepEqual(certs2, certs) {
		t.Errorf("decode(encode(decode(x))) differs (err %v)", err)
	}
}

// crossCheckWithGoSevGuest parses the re-created bytes with go-sev-guest's
// independent parser (which also checks every MBZ range).
func crossCheckWithGoSevGuest(t *testing.T, raw []byte, rep map[string]any) {
	t.Helper()
	pb, err := abi.ReportToProto(raw)
	if err != nil {
		t.Fatalf("go-sev-guest rejects the re-created report: %v", err)
	}
	if !bytes.Equal(pb.GetMeasurement(), jsonBytes(t, rep["measurement"])) ||
		!bytes.Equal(pb.GetHostData(), jsonBytes(t, rep["host_data"])) {
		t.Error("go-sev-guest sees a different measurement or host_data")
	}
	// Legacy TCB_VERSION packing: bootloader | tee<<8 | snp<<48 | microcode<<56.
	if want := uint64(10) | 23<<48 | 25<<56; pb.GetReportedTcb() != want || pb.GetLaunchTcb() != want {
		t.Errorf("go-sev-guest TCB = %#x/%#x, want %#x", pb.GetReportedTcb(), pb.GetLaunchTcb(), want)
	}
	if pb.GetCurrentMajor() != 1 || pb.GetCurrentMinor() != 55 || pb.GetCurrentBuild() != 40 {
		t.Errorf("go-sev-guest firmware version %d.%d.%d, want 1.55.40", pb.GetCurrentMajor(), pb.GetCurrentMinor(), pb.GetCurrentBuild())
	}
}

func TestRawReportsRoundTrip(t *testing.T) {
	tests := []struct {
		report, cert string
		certType     string
		version      uint32
	}{
		{"trustee-milan-vlek-report.bin", "trustee-milan-vlek.der", CertTypeVLEK, 3},
		{"trustee-milan-v2-report.bin", "trustee-milan-vcek.der", CertTypeVCEK, 2},
		{"gosevguest-milan-v2-report.bin", "gosevguest-milan-vcek.der", CertTypeVCEK, 2},
	}
	for _, tc := range tests {
		t.Run(tc.report, func(t *testing.T) {
			raw, der := peerVector(t, tc.report), peerVector(t, tc.cert)
			if v := binary.LittleEndian.Uint32(raw); v != tc.version {
				t.Fatalf("fixture version %d, want %d", v, tc.version)
			}
			ev, err := EncodeSNPEvidence(raw, []Cert{{Type: tc.certType, DER: der}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.version == 2 && !strings.Contains(string(ev), `"cpuid_fam_id":null`) {
				t.Error("a v2 report must carry null CPUID fields")
			}
			back, certs, err := DecodeSNPEvidence(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, raw) {
				t.Fatalf("round trip changed byte 0x%x", firstDiff(back, raw))
			}
			if len(certs) != 1 || certs[0].Type != tc.certType || !bytes.Equal(certs[0].DER, der) {
				t.Fatalf("certs changed: %v", certs)
			}
			verifySig(t, back, der)
		})
	}
}
