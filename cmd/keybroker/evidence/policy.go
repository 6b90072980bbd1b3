package evidence

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ErrInvalidPolicy is wrapped by every Policy.Validate and ParsePolicy error.
var ErrInvalidPolicy = errors.New("invalid evidence policy")

// Policy says which SNP evidence is acceptable. It is written by the operator
// (YAML, snake_case keys) and is the same for the key broker and
// `cvmctl report verify --policy`. Start from DefaultPolicy (ParsePolicy
// does): a zero Policy trusts no root and fails Validate. Every key that
// weakens a check is spelt insecure_...; Insecure lists those in force.
type Policy struct {
	// TrustAMDRoots trusts AMD's own ARK/ASK and ARK/ASVK chains for Milan,
	// Genoa and Turin, as embedded in go-sev-guest. Default true.
	TrustAMDRoots bool `json:"trust_amd_roots"`
	// ExtraRoots are paths of PEM files, each holding one ARK and its ASK
	// and/or ASVK (any order). The product line comes from the ARK's common
	// name "ARK-<line>". A chain whose ARK is not AMD's (e.g. the snpemu
	// emulator's) is refused unless InsecureNonAMDRoots is set.
	ExtraRoots []string `json:"extra_roots,omitempty"`
	// InsecureNonAMDRoots lets ExtraRoots hold chains whose ARK is not AMD's.
	// Reports signed under such roots prove nothing about real hardware:
	// loading one logs a warning and Result.NonAMDRoot tells the caller.
	InsecureNonAMDRoots bool `json:"insecure_non_amd_roots"`
	// CRLs are paths of X.509 CRL files (DER or PEM), e.g. AMD's
	// https://kdsintf.amd.com/vcek/v1/<product>/crl (and /vlek/v1/...). Each
	// must be signed by a trusted ARK (it then covers ASK/ASVK serials) or
	// by a trusted ASK/ASVK (covering VCEK/VLEK serials). A report needs a
	// current CRL (NextUpdate after the check time) from its chain's ARK.
	CRLs []string `json:"crls,omitempty"`
	// InsecureSkipRevocation accepts reports whose revocation status is
	// unknown: no current CRL from their ARK. Serials revoked by a loaded
	// CRL, even a stale one, are still refused. Validate requires CRLs or
	// this. Default false.
	InsecureSkipRevocation bool `json:"insecure_skip_revocation"`
	// Product (Milan, Genoa or Turin), when set, is the only acceptable
	// product line, unless Options.Product names one.
	Product string `json:"product,omitempty"`
	// AllowedMeasurements are the acceptable launch digests, 96 hex digits
	// each. When non-empty the measurement is always checked; when empty the
	// measurement is checked only if Options asks for it.
	AllowedMeasurements []string `json:"allowed_measurements,omitempty"`
	// MinTCB is the component-wise minimum of REPORTED_TCB and LAUNCH_TCB.
	MinTCB TCBMinimum `json:"min_tcb"`
	// InsecureAllowDebug accepts guests whose policy allows debugging
	// (POLICY bit 19): the host can then read guest memory. Default false.
	InsecureAllowDebug bool `json:"insecure_allow_debug"`
	// InsecureAllowMigrationAgent accepts guests that may be migrated by a
	// migration agent (POLICY bit 18), which can read their memory. Default
	// false.
	InsecureAllowMigrationAgent bool `json:"insecure_allow_migration_agent"`
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
// refused, VMPL 0, report version >= 2, no minimum TCB, and revocation
// checked. It has no CRLs, so it fails Validate until the caller adds AMD's
// CRLs or, knowingly, sets InsecureSkipRevocation.
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

// Insecure returns one line for every insecure_... option in force, naming
// the key and what it gives away, so callers can log them loudly at start.
func (p *Policy) Insecure() []string {
	var lines []string
	for _, o := range []struct {
		set  bool
		line string
	}{
		{p.InsecureAllowDebug, "insecure_allow_debug: DEBUG guests accepted, the host can read their memory"},
		{p.InsecureAllowMigrationAgent, "insecure_allow_migration_agent: guests bound to a migration agent accepted, the agent can read their memory"},
		{p.InsecureNonAMDRoots, "insecure_non_amd_roots: non-AMD roots may be trusted, reports signed under them prove nothing about real hardware"},
		{p.InsecureSkipRevocation, "insecure_skip_revocation: reports accepted without a current AMD CRL, a revoked ASK or VCEK may go unnoticed"},
	} {
		if o.set {
			lines = append(lines, o.line)
		}
	}
	return lines
}

// ResolvePaths makes the relative paths of ExtraRoots and CRLs relative to
// dir (the policy file's directory) instead of the working directory.
func (p *Policy) ResolvePaths(dir string) {
	for _, list := range [][]string{p.ExtraRoots, p.CRLs} {
		for i, f := range list {
			if f != "" && !filepath.IsAbs(f) {
				list[i] = filepath.Join(dir, f)
			}
		}
	}
}

// Validate reports every malformed field, each error naming it.
func (p *Policy) Validate() error {
	var errs []error
	if !p.TrustAMDRoots && len(p.ExtraRoots) == 0 {
		errs = append(errs, errors.New("trust_amd_roots is false and extra_roots is empty: no report could ever verify"))
	}
	errs = append(errs, emptyPathErrors("extra_roots", p.ExtraRoots)...)
	errs = append(errs, emptyPathErrors("crls", p.CRLs)...)
	if len(p.CRLs) == 0 && !p.InsecureSkipRevocation {
		errs = append(errs, errors.New("crls is empty: add AMD's CRL for each product line you accept "+
			"(https://kdsintf.amd.com/vcek/v1/<product>/crl, and https://kdsintf.amd.com/vlek/v1/<product>/crl "+
			"for VLEK-signed reports) or set insecure_skip_revocation: true"))
	}
	if p.Product != "" && !knownLine(p.Product) {
		errs = append(errs, fmt.Errorf("product: %q is not Milan, Genoa or Turin", p.Product))
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

func emptyPathErrors(field string, paths []string) []error {
	var errs []error
	for i, path := range paths {
		if path == "" {
			errs = append(errs, fmt.Errorf("%s[%d]: empty path", field, i))
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
