package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snpVectors holds real AMD-signed reports (shared/peer-vectors/README.md).
const snpVectors = "../../../shared/peer-vectors/snp-reports"

// inValidity is inside every peer vector certificate's validity.
const inValidity = "2025-06-01T00:00:00Z"

func vec(name string) string { return filepath.Join(snpVectors, name) }

func reportCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runReport(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// rawMeasurement reads MEASUREMENT (offset 0x90, 48 bytes) straight from a
// raw report file.
func rawMeasurement(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(raw[0x90:0xC0])
}

// jsonMeasurement reads attestation_report.measurement from Trustee JSON.
func jsonMeasurement(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Report struct {
			Measurement []int `json:"measurement"`
		} `json:"attestation_report"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, len(doc.Report.Measurement))
	for i, n := range doc.Report.Measurement {
		b[i] = byte(n)
	}
	return hex.EncodeToString(b)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportVerifyValid(t *testing.T) {
	der, err := os.ReadFile(vec("trustee-milan-vcek.der"))
	if err != nil {
		t.Fatal(err)
	}
	vcekPEM := writeTemp(t, "vcek.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	allowDebug := writeTemp(t, "debug.yaml", "insecure_allow_debug: true\ninsecure_skip_revocation: true\n")
	vmpl1 := writeTemp(t, "vmpl1.yaml", "vmpl: 1\ninsecure_skip_revocation: true\n")
	milanV2 := vec("trustee-milan-v2-report.bin")
	cases := []struct {
		name string
		args []string
		want string // measurement, read independently
	}{
		{"trustee milan v2, DER", []string{"--report", milanV2, "--vcek", vec("trustee-milan-vcek.der")}, rawMeasurement(t, milanV2)},
		{"trustee milan v2, PEM, product", []string{"--report", milanV2, "--vcek", vcekPEM, "--product", "Milan"}, rawMeasurement(t, milanV2)},
		{"go-sev-guest milan v2 (DEBUG) with policy", []string{"--report", vec("gosevguest-milan-v2-report.bin"), "--vcek", vec("gosevguest-milan-vcek.der"), "--policy", allowDebug},
			rawMeasurement(t, vec("gosevguest-milan-v2-report.bin"))},
		{"trustee milan VLEK (VMPL 1) with policy", []string{"--report", vec("trustee-milan-vlek-report.bin"), "--vlek", vec("trustee-milan-vlek.der"), "--policy", vmpl1},
			rawMeasurement(t, vec("trustee-milan-vlek-report.bin"))},
		{"trustee genoa evidence", []string{"--evidence", vec("trustee-genoa-evidence.json"), "--product", "Genoa"}, jsonMeasurement(t, vec("trustee-genoa-evidence.json"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := reportCmd(append([]string{"verify", "--at", inValidity}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if !strings.Contains(out, "measurement:    "+c.want+"\n") {
				t.Errorf("stdout lacks measurement %s:\n%s", c.want, out)
			}
		})
	}
}

func TestReportVerifyJSON(t *testing.T) {
	milanV2 := vec("trustee-milan-v2-report.bin")
	code, out, errOut := reportCmd("verify", "--json", "--at", inValidity, "--report", milanV2, "--vcek", vec("trustee-milan-vcek.der"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Valid  bool `json:"valid"`
		Result struct {
			Measurement string `json:"measurement"`
			Signer      string `json:"signer"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if !got.Valid || got.Result.Measurement != rawMeasurement(t, milanV2) || got.Result.Signer != "VCEK" {
		t.Errorf("JSON %s", out)
	}
}

func TestReportVerifyInvalid(t *testing.T) {
	raw, err := os.ReadFile(vec("trustee-milan-v2-report.bin"))
	if err != nil {
		t.Fatal(err)
	}
	vcek := vec("trustee-milan-vcek.der")
	type tc struct {
		name   string
		args   []string
		reason string
	}
	var cases []tc
	for _, off := range []int{0x50, 0x95, 0x0A, 0x2A0} {
		bad := bytes.Clone(raw)
		bad[off] ^= 0x08
		path := writeTemp(t, "flipped.bin", string(bad))
		cases = append(cases, tc{"flipped 0x" + hex.EncodeToString([]byte{byte(off >> 8), byte(off)}), []string{"--report", path, "--vcek", vcek}, "bad_signature"})
	}
	cases = append(cases,
		tc{"DEBUG guest, default policy", []string{"--report", vec("gosevguest-milan-v2-report.bin"), "--vcek", vec("gosevguest-milan-vcek.der")}, "debug_allowed"},
		tc{"VMPL 1, default policy", []string{"--report", vec("trustee-milan-vlek-report.bin"), "--vlek", vec("trustee-milan-vlek.der")}, "wrong_vmpl"},
		tc{"wrong product", []string{"--report", vec("trustee-milan-v2-report.bin"), "--vcek", vcek, "--product", "Genoa"}, "product_mismatch"},
		tc{"VCEK of another chip", []string{"--report", vec("trustee-milan-v2-report.bin"), "--vcek", vec("gosevguest-milan-vcek.der")}, "bad_signature"},
		tc{"truncated report", []string{"--report", writeTemp(t, "short.bin", string(raw[:0x2A0])), "--vcek", vcek}, "malformed_report"},
		tc{"evidence not JSON", []string{"--evidence", writeTemp(t, "e.json", "{")}, "malformed_report"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := reportCmd(append([]string{"verify", "--at", inValidity}, c.args...)...)
			want := "cvmctl report verify: invalid: " + c.reason + ": "
			if code != 1 || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line starting %q", code, errOut, want)
			}
		})
	}
	// The VLEK certificate expired on 2025-12-10.
	code, _, errOut := reportCmd("verify", "--at", "2026-01-01T00:00:00Z", "--report", vec("trustee-milan-vlek-report.bin"), "--vlek", vec("trustee-milan-vlek.der"))
	if code != 1 || !strings.Contains(errOut, "invalid: certificate_invalid") {
		t.Errorf("expired VLEK: exit %d, %q", code, errOut)
	}
}

func TestReportVerifyUsage(t *testing.T) {
	r, c := vec("trustee-milan-v2-report.bin"), vec("trustee-milan-vcek.der")
	cases := map[string][]string{
		"no sub-command":      {},
		"unknown sub-command": {"check"},
		"no input":            {"verify"},
		"both inputs":         {"verify", "--report", r, "--vcek", c, "--evidence", r},
		"no certificate":      {"verify", "--report", r},
		"two certificates":    {"verify", "--report", r, "--vcek", c, "--vlek", c},
		"cert with evidence":  {"verify", "--evidence", r, "--vcek", c},
		"bad time":            {"verify", "--report", r, "--vcek", c, "--at", "yesterday"},
		"bad product":         {"verify", "--report", r, "--vcek", c, "--product", "Naples"},
		"unknown flag":        {"verify", "--report", r, "--vcek", c, "--frobnicate"},
		"extra argument":      {"verify", "--report", r, "--vcek", c, "extra"},
	}
	for name, args := range cases {
		code, out, errOut := reportCmd(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "cvmctl report") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and one line", name, code, out, errOut)
		}
	}
	code, _, errOut := reportCmd("verify", "--report", filepath.Join(t.TempDir(), "missing.bin"), "--vcek", c)
	if code != 1 || strings.Contains(errOut, "invalid:") {
		t.Errorf("missing file: exit %d, %q; want 1 and no verdict", code, errOut)
	}
	if code, _, errOut := reportCmd("verify", "-h"); code != 0 || !strings.Contains(errOut, "usage: cvmctl report verify") {
		t.Errorf("-h: exit %d, %q", code, errOut)
	}
}
