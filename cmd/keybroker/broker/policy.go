package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"sigs.k8s.io/yaml"
)

// PolicyFile is the broker's policy, read from YAML. Example (docs/ in the README):
//
//	attestation:                 # what a report must satisfy (evidence.Policy)
//	  trust_amd_roots: true
//	  allowed_measurements: ["<96 hex digits from cvmctl measure>"]
//	resources:                   # KBS resource path -> file holding the secret
//	  default/disk/root: secrets/root.key
//
// Relative resource paths are resolved against the directory of the policy file.
type PolicyFile struct {
	// Attestation is what evidence must satisfy before any resource is released.
	Attestation evidence.Policy `json:"attestation"`
	// Resources maps "repository/type/tag" to the file holding that secret.
	// Only resources listed here can ever be released.
	Resources map[string]string `json:"resources"`
}

// LoadPolicy reads and validates a policy file. Unknown fields are refused so a
// misspelt restriction can never be silently ignored.
func LoadPolicy(path string) (*PolicyFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	p, err := ParsePolicy(raw)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p.resolve(filepath.Dir(path))
	return p, nil
}

// ParsePolicy decodes and validates policy YAML (or JSON) on top of
// evidence.DefaultPolicy. Relative file names stay relative to the working directory.
func ParsePolicy(raw []byte) (*PolicyFile, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing yaml: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	p := PolicyFile{Attestation: evidence.DefaultPolicy()}
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the attestation policy and every resource name.
func (p *PolicyFile) Validate() error {
	if err := p.Attestation.Validate(); err != nil {
		return fmt.Errorf("attestation: %w", err)
	}
	for name, file := range p.Resources {
		if err := ValidateResourcePath(name); err != nil {
			return fmt.Errorf("resources: %w", err)
		}
		if file == "" {
			return fmt.Errorf("resources: %q has no file", name)
		}
	}
	return nil
}

func (p *PolicyFile) resolve(dir string) {
	for name, file := range p.Resources {
		if !filepath.IsAbs(file) {
			p.Resources[name] = filepath.Join(dir, file)
		}
	}
	for i, f := range p.Attestation.ExtraRoots {
		if !filepath.IsAbs(f) {
			p.Attestation.ExtraRoots[i] = filepath.Join(dir, f)
		}
	}
}

// ValidateResourcePath accepts exactly "repository/type/tag" with three
// non-empty segments of letters, digits, '-', '_' and '.', none of them "." or "..".
func ValidateResourcePath(path string) error {
	parts := strings.Split(path, "/")
	if len(parts) != 3 {
		return fmt.Errorf("resource path %q: want repository/type/tag", path)
	}
	for _, s := range parts {
		if s == "" || s == "." || s == ".." || strings.Trim(s, safeChars) != "" {
			return fmt.Errorf("resource path %q: bad segment %q", path, s)
		}
	}
	return nil
}

const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
