package broker

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"sigs.k8s.io/yaml"
)

// PolicyFile is the broker's policy, read from YAML. The documented example
// is testdata/keybroker-policy.yaml; Lint says which keys it must spell out.
// Secrets, and the measurements each one is released to, live in the store
// (package store), not here.
type PolicyFile struct {
	// Attestation is what evidence must satisfy before any resource is
	// released. Its allowed_measurements, if any, are allowed for every
	// resource in addition to each resource's own list.
	Attestation evidence.Policy `json:"attestation"`
}

// LoadPolicy reads, lints and validates a policy file; relative paths in it
// (extra_roots, crls) are resolved against its directory.
func LoadPolicy(path string) (*PolicyFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := ParsePolicy(raw, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy lints raw (Lint), decodes it on top of evidence.DefaultPolicy
// refusing unknown keys, resolves relative paths against dir and validates
// the result.
func ParsePolicy(raw []byte, dir string) (*PolicyFile, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing yaml: %w", err)
	}
	if err := Lint(js); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	p := PolicyFile{Attestation: evidence.DefaultPolicy()}
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	p.Attestation.ResolvePaths(dir)
	if err := p.Attestation.Validate(); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	return &p, nil
}

// measurements decodes attestation.allowed_measurements (validated already).
func (p *PolicyFile) measurements() [][]byte {
	var out [][]byte
	for _, m := range p.Attestation.AllowedMeasurements {
		if b, err := hex.DecodeString(m); err == nil {
			out = append(out, b)
		}
	}
	return out
}
