package broker

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplePolicy keeps the documented example policy valid and meaning
// what its comments say.
func TestExamplePolicy(t *testing.T) {
	p, err := LoadPolicy(filepath.Join("..", "..", "..", "testdata", "keybroker-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Attestation
	if !a.TrustAMDRoots || a.InsecureAllowDebug || a.InsecureAllowMigrationAgent || a.InsecureNonAMDRoots ||
		a.MinTCB.SNP != 8 || a.MinTCB.Microcode != 115 || len(a.AllowedMeasurements) != 0 {
		t.Errorf("example policy decoded as %+v", a)
	}
	if got := a.Insecure(); len(got) != 1 || !strings.Contains(got[0], "insecure_skip_revocation") {
		t.Errorf("example's insecure options = %q, want only insecure_skip_revocation", got)
	}
}

// complete is a policy with every key Lint requires.
const complete = "attestation:\n  trust_amd_roots: true\n  insecure_skip_revocation: true\n" +
	"  min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115}\n  allow_smt: true\n  vmpl: 0\n" +
	"  min_report_version: 3\n  permit_provisional_firmware: false\n"

func TestPolicyRefusesMistakes(t *testing.T) {
	if _, err := ParsePolicy([]byte(complete), ""); err != nil {
		t.Fatalf("complete policy refused: %v", err)
	}
	for name, y := range map[string]string{
		"unknown key":        complete + "  alow_debug: true\n",
		"old debug key":      complete + "  allow_debug: true\n",
		"unknown top key":    complete + "resource: {}\n",
		"resources section":  complete + "resources: {a/b/c: f}\n",
		"no roots":           strings.Replace(complete, "trust_amd_roots: true", "trust_amd_roots: false", 1),
		"short measurement":  complete + "  allowed_measurements: [\"abcd\"]\n",
		"not yaml":           "attestation: [\n",
		"measurement number": complete + "  allowed_measurements: [123]\n",
		"no revocation":      strings.Replace(complete, "  insecure_skip_revocation: true\n", "", 1),
	} {
		if _, err := ParsePolicy([]byte(y), ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLintNamesEveryUnsetKey removes each required key in turn: the policy
// is refused with an error naming exactly that key.
func TestLintNamesEveryUnsetKey(t *testing.T) {
	keys := map[string]string{
		"trust_amd_roots": "  trust_amd_roots: true\n", "allow_smt": "  allow_smt: true\n", "vmpl": "  vmpl: 0\n",
		"min_report_version":          "  min_report_version: 3\n",
		"permit_provisional_firmware": "  permit_provisional_firmware: false\n",
		"min_tcb.tee":                 "tee: 0, ", "min_tcb.bootloader": "bootloader: 3, ", "min_tcb.microcode": ", microcode: 115",
	}
	for key, line := range keys {
		y := strings.Replace(complete, line, "", 1)
		if y == complete {
			t.Fatalf("%s: test line %q not in the policy", key, line)
		}
		_, err := ParsePolicy([]byte(y), "")
		if !errors.Is(err, ErrLint) || !strings.Contains(err.Error(), "attestation."+key+": not set") {
			t.Errorf("without %s: err = %v", key, err)
		}
	}
	if _, err := ParsePolicy([]byte("{}"), ""); !errors.Is(err, ErrLint) {
		t.Errorf("empty policy: err = %v, want ErrLint", err)
	}
}
