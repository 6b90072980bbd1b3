package evidence_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

func TestParsePolicy(t *testing.T) {
	m := strings.Repeat("ab", 48)
	p, err := evidence.ParsePolicy([]byte(`
extra_roots: [/etc/cvminit/emu.pem]
insecure_non_amd_roots: true
crls: [/etc/cvminit/milan.crl, genoa.crl]
product: Genoa
allowed_measurements: ["` + m + `"]
min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115}
insecure_allow_debug: true
insecure_allow_migration_agent: true
allow_smt: false
vmpl: 0
min_report_version: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.TrustAMDRoots || p.AllowSMT || !p.InsecureAllowDebug || !p.InsecureAllowMigrationAgent || !p.InsecureNonAMDRoots ||
		p.InsecureSkipRevocation || p.Product != "Genoa" || p.MinReportVersion != 3 || *p.VMPL != 0 || p.MinTCB.Microcode != 115 ||
		p.AllowedMeasurements[0] != m || p.ExtraRoots[0] != "/etc/cvminit/emu.pem" || p.CRLs[1] != "genoa.crl" {
		t.Errorf("parsed %+v", p)
	}
	// The old spellings of the weakening keys are unknown keys now.
	for _, old := range []string{"allow_debug: true", "allow_migration_agent: true", "allow_debugging: true"} {
		if _, err := evidence.ParsePolicy([]byte(old + "\ninsecure_skip_revocation: true\n")); !errors.Is(err, evidence.ErrInvalidPolicy) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy", old, err)
		}
	}
}

func TestPolicyRevocationRequired(t *testing.T) {
	p := evidence.DefaultPolicy()
	err := p.Validate()
	for _, want := range []string{"https://kdsintf.amd.com/vcek/v1/<product>/crl", "/vlek/v1/<product>/crl", "insecure_skip_revocation: true"} {
		if !errors.Is(err, evidence.ErrInvalidPolicy) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("default policy: err = %v, want ErrInvalidPolicy mentioning %q", err, want)
		}
	}
	if _, err := evidence.ParsePolicy([]byte("trust_amd_roots: true\n")); !errors.Is(err, evidence.ErrInvalidPolicy) {
		t.Errorf("policy without crls: err = %v", err)
	}
	for name, edit := range map[string]func(*evidence.Policy){
		"crls":                     func(p *evidence.Policy) { p.CRLs = []string{"milan.crl"} },
		"insecure_skip_revocation": func(p *evidence.Policy) { p.InsecureSkipRevocation = true },
	} {
		p := evidence.DefaultPolicy()
		edit(&p)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPolicyInsecure(t *testing.T) {
	p := evidence.DefaultPolicy()
	p.CRLs = []string{"milan.crl"}
	if got := p.Insecure(); len(got) != 0 {
		t.Errorf("default policy with a CRL: %q", got)
	}
	p.InsecureAllowDebug, p.InsecureAllowMigrationAgent, p.InsecureNonAMDRoots, p.InsecureSkipRevocation = true, true, true, true
	got := p.Insecure()
	keys := []string{"insecure_allow_debug: ", "insecure_allow_migration_agent: ", "insecure_non_amd_roots: ", "insecure_skip_revocation: "}
	if len(got) != len(keys) {
		t.Fatalf("Insecure() = %q, want one line per key %q", got, keys)
	}
	for i, k := range keys {
		if !strings.HasPrefix(got[i], k) || len(got[i]) < len(k)+20 {
			t.Errorf("line %d = %q, want %q and what it gives away", i, got[i], k)
		}
	}
}

func TestPolicyResolvePaths(t *testing.T) {
	p := evidence.DefaultPolicy()
	p.ExtraRoots = []string{"emu.pem", "/abs/emu.pem"}
	p.CRLs = []string{"crl/milan.crl", "/abs/genoa.crl"}
	p.ResolvePaths("/etc/keybroker")
	if p.ExtraRoots[0] != "/etc/keybroker/emu.pem" || p.ExtraRoots[1] != "/abs/emu.pem" ||
		p.CRLs[0] != "/etc/keybroker/crl/milan.crl" || p.CRLs[1] != "/abs/genoa.crl" {
		t.Errorf("resolved %q %q", p.ExtraRoots, p.CRLs)
	}
}

func TestPolicyValidateNamesFields(t *testing.T) {
	cases := map[string]func(*evidence.Policy){
		"trust_amd_roots":         func(p *evidence.Policy) { p.TrustAMDRoots = false },
		"extra_roots[0]":          func(p *evidence.Policy) { p.ExtraRoots = []string{""} },
		"crls[1]":                 func(p *evidence.Policy) { p.CRLs = []string{"a.crl", ""} },
		"product":                 func(p *evidence.Policy) { p.Product = "Naples" },
		"allowed_measurements[1]": func(p *evidence.Policy) { p.AllowedMeasurements = []string{strings.Repeat("00", 48), "abc"} },
		"id_key_digests[0]":       func(p *evidence.Policy) { p.IDKeyDigests = []string{strings.Repeat("00", 32)} },
		"host_data":               func(p *evidence.Policy) { p.HostData = "zz" },
		"vmpl":                    func(p *evidence.Policy) { p.VMPL = ptr(4) },
		"min_report_version":      func(p *evidence.Policy) { p.MinReportVersion = 1 },
		"min_tcb.snp":             func(p *evidence.Policy) { p.MinTCB.SNP = 128 },
	}
	for field, edit := range cases {
		p := evidence.DefaultPolicy()
		p.InsecureSkipRevocation = true
		edit(&p)
		err := p.Validate()
		if !errors.Is(err, evidence.ErrInvalidPolicy) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v", field, err)
		}
	}
	p := evidence.DefaultPolicy()
	p.InsecureSkipRevocation, p.Product = true, "Turin"
	if err := p.Validate(); err != nil {
		t.Errorf("default policy without revocation: %v", err)
	}
}

func TestRootWarningAndLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "emu.pem")
	if err := testChain(t).WriteRoots(good); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := evidence.DefaultPolicy()
	p.ExtraRoots, p.InsecureNonAMDRoots, p.InsecureSkipRevocation = []string{good}, true, true
	v, err := evidence.NewVerifier(&p, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), good) || !v.NonAMDRoots() {
		t.Errorf("want one warning naming %s, got %d:\n%s", good, n, logs.String())
	}
	logs.Reset()
	p = evidence.DefaultPolicy()
	p.InsecureSkipRevocation = true
	if v, err := evidence.NewVerifier(&p, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || logs.Len() != 0 || v.NonAMDRoots() {
		t.Errorf("AMD roots only: err %v, logs %q", err, logs.String())
	}
	blocks := pemBlocks(t, testChain(t).RootsPEM())
	otherBlocks := pemBlocks(t, otherChain(t).RootsPEM())
	bad := map[string]string{
		"no ARK":            blocks[1] + blocks[2],
		"ASK of other ARK":  blocks[0] + otherBlocks[1],
		"two ARKs":          blocks[0] + otherBlocks[0] + blocks[1],
		"ARK only":          blocks[0],
		"not PEM":           "hello",
		"trailing garbage":  blocks[0] + blocks[1] + "junk",
		"private key block": blocks[0] + blocks[1] + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	}
	for name, content := range bad {
		path := filepath.Join(dir, "bad.pem")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.LoadRoots(path); err == nil {
			t.Errorf("%s: LoadRoots accepted it", name)
		}
	}
}

// pemBlocks splits PEM text into its blocks (ARK, ASK, ASVK for a chain).
func pemBlocks(t *testing.T, pemText []byte) []string {
	parts := strings.SplitAfter(string(pemText), "-----END CERTIFICATE-----\n")
	if len(parts) != 4 || parts[3] != "" {
		t.Fatalf("expected 3 PEM blocks, got %d parts", len(parts))
	}
	return parts[:3]
}

func TestReason(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), "internal_error"},
		{fmt.Errorf("ctx: %w", evidence.ErrMeasurement), "measurement_not_allowed"},
		{errors.Join(evidence.ErrDebug, evidence.ErrVMPL), "wrong_vmpl"},
		{evidence.ErrSignature, "bad_signature"},
		{fmt.Errorf("ctx: %w", evidence.ErrRevoked), "certificate_revoked"},
		{evidence.ErrRevocation, "revocation_unknown"},
	}
	for _, c := range cases {
		if got := evidence.Reason(c.err); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestResultOutput(t *testing.T) {
	v := vectors()[1]
	raw, cert := v.load(t)
	res, err := amdVerifier(t, v.policy).Check(v.evidence(raw, cert), evidence.Options{Now: asOf})
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Measurement string `json:"measurement"`
		ReportedTCB struct {
			Raw       uint64 `json:"raw"`
			Microcode uint8  `json:"microcode"`
		} `json:"reported_tcb"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	// REPORTED_TCB at 0x180 of trustee-milan-v2 is 03 00 00 00 00 00 08 73.
	if decoded.Measurement != hex.EncodeToString(raw[0x90:0xC0]) || decoded.ReportedTCB.Raw != 0x7308000000000003 || decoded.ReportedTCB.Microcode != 0x73 {
		t.Errorf("JSON: %s", js.String())
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"measurement:    " + hex.EncodeToString(raw[0x90:0xC0]), "VCEK, AMD root, product Milan",
		"reported_tcb:   bootloader=3 tee=0 snp=8 microcode=115", "debug=no", "smt=yes"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}

// FuzzCheck: arbitrary report bytes with a real VCEK never panic, and every
// refusal carries one of the package's reasons.
func FuzzCheck(f *testing.F) {
	for _, v := range vectors()[:3] {
		raw, _ := v.load(&testing.T{})
		f.Add(raw)
	}
	f.Add([]byte{})
	cert := readFileF(f, "trustee-milan-vcek.der")
	p := evidence.DefaultPolicy()
	p.InsecureSkipRevocation = true
	v, err := evidence.NewVerifier(&p, quiet)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := v.Check(evidence.Evidence{Report: raw, Certs: []evidence.Cert{{Type: "VCEK", DER: cert}, {Type: "VLEK", DER: cert}}},
			evidence.Options{Now: asOf})
		if err != nil && evidence.Reason(err) == "internal_error" {
			t.Errorf("refusal without a reason: %v", err)
		}
	})
}

func readFileF(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
