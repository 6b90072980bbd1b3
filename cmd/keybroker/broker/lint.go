package broker

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrLint is wrapped by every Lint error.
var ErrLint = errors.New("policy leaves a safety check to its default")

// required are the attestation keys a policy must spell out: each one
// decides whether some class of guest gets keys, so the operator must have
// chosen it rather than inherited a default. (Weakening options are named
// insecure_… and evidence.Policy.Validate refuses weak settings without them.)
var required = []string{
	"trust_amd_roots", "allow_smt", "vmpl", "min_report_version", "permit_provisional_firmware", "min_tcb",
}

// requiredTCB are the components min_tcb must name (fmc is Turin-only).
var requiredTCB = []string{"bootloader", "tee", "snp", "microcode"}

// Lint checks a policy document (JSON, as YAMLToJSON gives it) for
// safety-relevant keys left unset, naming each missing key. It does not
// judge values: evidence.Policy.Validate does.
func Lint(js []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		return fmt.Errorf("%w: the policy is not a mapping: %w", ErrLint, err)
	}
	if _, ok := doc["resources"]; ok {
		return errors.New("resources: secrets live in the store now: keybroker resource add --store DIR --path P --secret-file F --measurement HEX")
	}
	var att map[string]json.RawMessage
	if err := json.Unmarshal(doc["attestation"], &att); err != nil || att == nil {
		return fmt.Errorf("%w: attestation: missing", ErrLint)
	}
	var errs []error
	for _, k := range required {
		if _, ok := att[k]; !ok {
			errs = append(errs, fmt.Errorf("%w: attestation.%s: not set", ErrLint, k))
		}
	}
	var tcb map[string]json.RawMessage
	if raw, ok := att["min_tcb"]; ok {
		if err := json.Unmarshal(raw, &tcb); err != nil {
			errs = append(errs, fmt.Errorf("%w: attestation.min_tcb: not a mapping", ErrLint))
		}
		for _, k := range requiredTCB {
			if _, ok := tcb[k]; !ok && tcb != nil {
				errs = append(errs, fmt.Errorf("%w: attestation.min_tcb.%s: not set", ErrLint, k))
			}
		}
	}
	return errors.Join(errs...)
}
