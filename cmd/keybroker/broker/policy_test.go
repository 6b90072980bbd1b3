package broker

import (
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
	if !a.TrustAMDRoots || a.AllowDebug || a.AllowMigrationAgent || a.MinTCB.SNP != 8 || len(a.AllowedMeasurements) != 1 {
		t.Errorf("example policy decoded as %+v", a)
	}
	if f := p.Resources["default/disk/root"]; !strings.HasSuffix(f, filepath.Join("testdata", "secrets", "root.key")) {
		t.Errorf("resource file %q not resolved against the policy's directory", f)
	}
}

func TestPolicyRefusesMistakes(t *testing.T) {
	for name, y := range map[string]string{
		"unknown key":        "attestation: {alow_debug: true}\n",
		"unknown top key":    "resource: {}\n",
		"bad resource path":  "resources: {\"a/b\": f}\n",
		"empty file":         "resources: {\"a/b/c\": \"\"}\n",
		"no roots":           "attestation: {trust_amd_roots: false}\n",
		"short measurement":  "attestation: {allowed_measurements: [\"abcd\"]}\n",
		"not yaml":           "attestation: [\n",
		"measurement number": "attestation: {allowed_measurements: [123]}\n",
	} {
		if _, err := ParsePolicy([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
