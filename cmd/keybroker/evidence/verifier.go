// Package evidence verifies AMD SEV-SNP attestation evidence on the host:
// the report's signature and certificate chain (go-sev-guest verify, with no
// network: the VCEK or VLEK must come with the evidence), the chain's
// revocation status against CRLs the operator fetched from AMD (offline:
// crls in the Policy), then every field the Policy constrains (go-sev-guest
// validate with all options set, behind this package's own checks, which
// give each refusal its own sentinel error). The key broker and `cvmctl
// report verify` both use it, so both decide alike.
//
// Written here by hand: only the policy model, error classification, the
// CRL bookkeeping and the product-line/TCB-layout tables; all cryptography
// is go-sev-guest's and crypto/x509's. Options that weaken a check are all
// spelt insecure_... (Policy.Insecure lists those in force).
package evidence

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"
)

// Cert is one certificate (or CRL) delivered with a report.
type Cert struct {
	// Type is VCEK, VLEK, ASK, ARK, ASVK or CRL (case-insensitive).
	Type string
	// DER is the certificate in DER form.
	DER []byte
}

// Evidence is a raw report and the certificates the host supplied with it.
// Only the VCEK or VLEK entry is used: the rest of the chain always comes
// from the verifier's trusted roots, never from the evidence.
type Evidence struct {
	// Report is the raw 0x4A0-byte ATTESTATION_REPORT.
	Report []byte
	// Certs must include the VCEK or VLEK named by the report's SIGNER_INFO.
	Certs []Cert
}

// Options are per-check inputs. The zero value checks at time.Now, does not
// check REPORT_DATA, accepts the policy's product line (any if it names
// none) and checks the measurement only if the policy lists some.
type Options struct {
	// Now is the time at which certificates must be valid and CRLs current;
	// zero means now.
	Now time.Time
	// ReportData, when non-nil, must equal REPORT_DATA exactly.
	ReportData *[64]byte
	// Product (Milan, Genoa or Turin), when set, must be the report's
	// product line; when empty, Policy.Product applies. The line itself
	// comes from the report's CPUID (v3+) or, for v2 reports, from the
	// V[CL]EK's product name.
	Product string
	// CheckMeasurement refuses every report whose measurement is not in
	// Policy.AllowedMeasurements or AllowedMeasurements, even when both
	// are empty.
	CheckMeasurement bool
	// AllowedMeasurements are launch digests (48 bytes each) accepted for
	// this call in addition to Policy.AllowedMeasurements, e.g. those of the
	// resource being released. Non-empty, it turns the measurement check on.
	AllowedMeasurements [][]byte
}

// Verifier checks evidence against one policy. Build it once (roots are
// parsed then) and share it: Check is safe for concurrent use. A Verifier is
// immutable apart from a bounded cache of V[CL]EK certificates whose chain to
// its roots verified (at most 1024, keyed by the exact certificate bytes),
// which spares re-verifying that chain's RSA signatures for every report. The
// cache never decides a refusal, and a certificate found there is still
// checked against Options.Now (the whole chain's validity) and the CRLs
// every time.
type Verifier struct {
	pol    compiled
	roots  *Roots
	crls   *crlSet
	chains *chainCache
}

// NewVerifier validates p and loads its roots and CRLs, logging a warning
// for every non-AMD root and a line for every CRL. The policy is copied:
// later changes to p have no effect. Logging p.Insecure() is the caller's.
func NewVerifier(p *Policy, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	roots, err := p.Roots(logger)
	if err != nil {
		return nil, fmt.Errorf("loading trusted roots: %w", err)
	}
	crls, err := loadCRLs(p.CRLs, roots, p.InsecureSkipRevocation, logger)
	if err != nil {
		return nil, fmt.Errorf("loading CRLs: %w", err)
	}
	return newVerifier(p, roots, crls), nil
}

func newVerifier(p *Policy, roots *Roots, crls *crlSet) *Verifier {
	return &Verifier{pol: compile(p), roots: roots, crls: crls, chains: newChainCache(chainCacheSize)}
}

// NonAMDRoots reports whether the verifier trusts any non-AMD chain.
func (v *Verifier) NonAMDRoots() bool { return v.roots.NonAMD() }

// Check is NewVerifier followed by Verifier.Check, for one-off use; it logs
// through slog.Default.
func Check(ev Evidence, p *Policy, o Options) (*Result, error) {
	v, err := NewVerifier(p, slog.Default())
	if err != nil {
		return nil, err
	}
	return v.Check(ev, o)
}

// Check verifies ev's signature, chain and its revocation status, then the
// policy. The Result is non-nil whenever the report is authentic (signature
// and chain verified, nothing revoked, revocation status known or its check
// skipped), even if the policy then refuses it, so callers can log what was
// refused. Every error wraps one or more of this package's Err* sentinels.
func (v *Verifier) Check(ev Evidence, o Options) (*Result, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Product == "" {
		o.Product = v.pol.p.Product
	}
	a, err := v.authenticate(ev, o)
	if err != nil {
		return nil, err
	}
	if err := v.crls.check(a, o.Now); err != nil {
		return nil, err
	}
	res := newResult(a)
	if err := v.pol.check(a, o); err != nil {
		return res, err
	}
	return res, nil
}

// compiled is a validated Policy with its hex fields decoded.
type compiled struct {
	p            Policy
	measurements [][]byte
	hostData     []byte
	idKeys       [][]byte
	vmpl         int
	minVersion   uint32
}

// compile decodes a policy that passed Validate.
func compile(p *Policy) compiled {
	c := compiled{p: *p, minVersion: p.MinReportVersion}
	if c.minVersion == 0 {
		c.minVersion = 2
	}
	if p.VMPL != nil {
		c.vmpl = *p.VMPL
	}
	for _, m := range p.AllowedMeasurements {
		b, _ := decodeHex(m, 48)
		c.measurements = append(c.measurements, b)
	}
	for _, d := range p.IDKeyDigests {
		b, _ := decodeHex(d, 48)
		c.idKeys = append(c.idKeys, b)
	}
	c.hostData, _ = decodeHex(p.HostData, 32)
	return c
}

// allowedMeasurement returns the entry of the policy's or o's allow-list
// equal to m, or nil.
func (c *compiled) allowedMeasurement(m []byte, o Options) []byte {
	for _, list := range [][][]byte{c.measurements, o.AllowedMeasurements} {
		for _, want := range list {
			if bytes.Equal(want, m) {
				return want
			}
		}
	}
	return nil
}
