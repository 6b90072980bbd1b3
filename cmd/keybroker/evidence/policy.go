package evidence

import (
	"encoding/hex"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// ErrInvalidPolicy is wrapped by every Policy.Validate and ParsePolicy error.
var ErrInvalidPolicy = errors.New("invalid evidence policy")

// Policy says which SNP evidence is acceptable. It is written by the operator
// (YAML, snake_case keys) and is the same for the key broker and
// `cvmctl report verify --policy`. Start from DefaultPolicy (ParsePolicy
// does): a zero Policy trusts no root and fails Validate.
type Policy struct {
	// TrustAMDRoots trusts AMD's own ARK/ASK and ARK/ASVK chains for Milan,
	// Genoa and Turin, as embedded in go-sev-guest. Default true.
	TrustAMDRoots bool `json:"trust_amd_roots"`
	// ExtraRoots are paths of PEM files, each holding one ARK and its ASK
	// and/or ASVK (any order), e.g. the snpemu emulator's chain. The product
	// line comes from the ARK's common name "ARK-<line>". Reports signed
	// under such roots prove nothing about real hardware: loading one logs a
	// warning and Result.NonAMDRoot tells the caller.
	ExtraRoots []string `json:"extra_roots,omitempty"`
	// AllowedMeasurements are the acceptable launch digests, 96 hex digits
	// each. When non-empty the measurement is always checked; when empty the
	// measurement is checked only if Options.CheckMeasurement is set, and then
	// every report is refused.
	AllowedMeasurements []string `json:"allowed_measurements,omitempty"`
	// MinTCB is the component-wise minimum of REPORTED_TCB and LAUNCH_TCB.
	MinTCB TCBMinimum `json:"min_tcb"`
	// AllowDebug accepts guests whose policy allows debugging (POLICY bit
	// 19): the host can then read guest memory. Default false.
	AllowDebug bool `json:"allow_debug"`
	// AllowMigrationAgent accepts guests that may be migrated by a migration
	// agent (POLICY bit 18). Default false.
	AllowMigrationAgent bool `json:"allow_migration_agent"`
	// AllowSMT accepts guests whose policy allows SMT (POLICY bit 16).
	// Default true: QEMU and the cloud providers launch with it set and
	// refusing it would refuse nearly every real guest; sibling-thread side
	// channels are covered only by MinTCB (see SECURITY.md residual risks).
	AllowSMT bool `json:"allow_smt"`
	// RequireSingleSocket refuses guests without POLICY bit 20.
	RequireSingleSocket bool `json:"require_single_socket"`
	// VMPL is the only acceptable VMPL, 0-3. Nil means 0.
	VMPL *int `json:"vmpl,omitempty"`
	// MinReportVersion is the lowest acceptable report VERSION; 0 means 2.
	MinReportVersion uint32 `json:"min_report_version"`
	// PermitProvisionalFirmware accepts a COMMITTED_TCB and committed
	// firmware version lower than the current ones (never higher). Default
	// true: real hosts load newer microcode at boot, so CURRENT_TCB's
	// microcode SPL is above the committed one (both Trustee Milan peer
	// vectors show it). False requires them equal. MinTCB applies to
	// REPORTED_TCB and LAUNCH_TCB either way.
	PermitProvisionalFirmware bool `json:"permit_provisional_firmware"`
	// HostData, when set (64 hex digits), must equal HOST_DATA.
	HostData string `json:"host_data,omitempty"`
	// IDKeyDigests, when set (96 hex digits each), require an ID block whose
	// ID key digest is one of these.
	IDKeyDigests []string `json:"id_key_digests,omitempty"`
}

// TCBMinimum holds minimum security patch levels. FMC applies to Turin only.
type TCBMinimum struct {
	Bootloader uint8 `json:"bootloader"`
	TEE        uint8 `json:"tee"`
	SNP        uint8 `json:"snp"`
	Microcode  uint8 `json:"microcode"`
	FMC        uint8 `json:"fmc,omitempty"`
}

// DefaultPolicy returns the documented defaults: AMD roots trusted, SMT
// allowed, provisional firmware permitted, debug and migration agent
// refused, VMPL 0, report version >= 2, no minimum TCB.
func DefaultPolicy() Policy {
	return Policy{TrustAMDRoots: true, AllowSMT: true, PermitProvisionalFirmware: true, MinReportVersion: 2}
}

// ParsePolicy decodes YAML (or JSON) on top of DefaultPolicy, refusing
// unknown keys, and validates the result.
func ParsePolicy(data []byte) (*Policy, error) {
	p := DefaultPolicy()
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate reports every malformed field, each error naming it.
func (p *Policy) Validate() error {
	var errs []error
	if !p.TrustAMDRoots && len(p.ExtraRoots) == 0 {
		errs = append(errs, errors.New("trust_amd_roots is false and extra_roots is empty: no report could ever verify"))
	}
	for i, path := range p.ExtraRoots {
		if path == "" {
			errs = append(errs, fmt.Errorf("extra_roots[%d]: empty path", i))
		}
	}
	errs = append(errs, hexListErrors("allowed_measurements", p.AllowedMeasurements, 48)...)
	errs = append(errs, hexListErrors("id_key_digests", p.IDKeyDigests, 48)...)
	if p.HostData != "" {
		if _, err := decodeHex(p.HostData, 32); err != nil {
			errs = append(errs, fmt.Errorf("host_data: %w", err))
		}
	}
	if p.VMPL != nil && (*p.VMPL < 0 || *p.VMPL > 3) {
		errs = append(errs, fmt.Errorf("vmpl: %d is not 0-3", *p.VMPL))
	}
	if v := p.MinReportVersion; v != 0 && (v < 2 || v > maxReportVersion) {
		errs = append(errs, fmt.Errorf("min_report_version: %d is not 2-%d", v, maxReportVersion))
	}
	errs = append(errs, p.MinTCB.validate()...)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return nil
}

func (t TCBMinimum) validate() []error {
	// TCB_VERSION fields other than microcode are 7-bit (KDS specification).
	var errs []error
	for _, f := range []struct {
		name string
		v    uint8
	}{{"bootloader", t.Bootloader}, {"tee", t.TEE}, {"snp", t.SNP}, {"fmc", t.FMC}} {
		if f.v > 127 {
			errs = append(errs, fmt.Errorf("min_tcb.%s: %d is not 0-127", f.name, f.v))
		}
	}
	return errs
}

func hexListErrors(field string, list []string, size int) []error {
	var errs []error
	for i, s := range list {
		if _, err := decodeHex(s, size); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
		}
	}
	return errs
}

func decodeHex(s string, size int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d (%d hex digits)", len(b), size, 2*size)
	}
	return b, nil
}
