package evidence

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// authentic is a report whose signature and certificate chain verified.
type authentic struct {
	raw    []byte
	att    *spb.Attestation
	leaf   *x509.Certificate
	exts   *kds.Extensions
	signer abi.ReportSigner
	line   string
	nonAMD bool
	// ark and ica (ASK or ASVK) are the trusted root certificates the leaf
	// chains to: pointers into the verifier's Roots, the keys of its CRLs.
	ark, ica *x509.Certificate
}

// authenticate establishes that ev.Report was signed by a V[CL]EK that
// chains to a trusted root, and is consistent with that certificate. A
// certificate whose chain verified before skips the chain check (chaincache.go).
func (v *Verifier) authenticate(ev Evidence, o Options) (*authentic, error) {
	if len(ev.Report) != reportSize {
		return nil, fmt.Errorf("%w: report is %d bytes, want %d", ErrMalformed, len(ev.Report), reportSize)
	}
	signer, err := reportSigner(ev.Report)
	if err != nil {
		return nil, err
	}
	der, err := endorsementDER(ev.Certs, signer)
	if err != nil {
		return nil, err
	}
	if a := v.cachedAuthenticate(ev.Report, der, signer, o); a != nil {
		return a, nil
	}
	a := &authentic{raw: ev.Report, signer: signer}
	if err := a.decode(der, o.Product); err != nil {
		return nil, a.preferSignature(err)
	}
	if err := v.verifyChain(a, o.Now); err != nil {
		return nil, err
	}
	if err := a.consistent(); err != nil {
		return nil, err
	}
	v.remember(a, der, o.Now)
	return a, nil
}

// endorsementDER picks the one certificate of the signer's kind.
func endorsementDER(certs []Cert, signer abi.ReportSigner) ([]byte, error) {
	if signer != abi.VcekReportSigner && signer != abi.VlekReportSigner {
		return nil, fmt.Errorf("%w: SIGNER_INFO says the report is not signed (%v)", ErrSignature, signer)
	}
	var der []byte
	for _, c := range certs {
		if !strings.EqualFold(c.Type, signer.String()) {
			continue
		}
		if der != nil {
			return nil, fmt.Errorf("%w: more than one %v certificate in the evidence", ErrCertificate, signer)
		}
		der = c.DER
	}
	if der == nil {
		return nil, fmt.Errorf("%w: the report is signed by a %v but the evidence has no %v certificate", ErrCertificate, signer, signer)
	}
	return der, nil
}

// decode parses the report and certificate and settles the product line.
func (a *authentic) decode(der []byte, product string) error {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w: parsing %v certificate: %w", ErrCertificate, a.signer, err)
	}
	a.leaf = leaf
	if err := abi.ValidateReportFormat(a.raw); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	report, err := abi.ReportToProto(a.raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	a.att = &spb.Attestation{Report: report, CertificateChain: chainProto(a.signer, der)}
	if a.exts, err = kds.CertificateExtensions(leaf, a.signer); err != nil {
		return fmt.Errorf("%w: %v certificate extensions: %w", ErrCertificate, a.signer, err)
	}
	if a.line, err = lineFromCPUID(a.raw); err == nil && a.line == "" {
		a.line, err = lineFromCert(a.exts)
	}
	if err == nil && product != "" && product != a.line {
		err = fmt.Errorf("%w: report is from a %s, want %s", ErrProduct, a.line, product)
	}
	return err
}

func chainProto(signer abi.ReportSigner, der []byte) *spb.CertificateChain {
	if signer == abi.VlekReportSigner {
		return &spb.CertificateChain{VlekCert: der}
	}
	return &spb.CertificateChain{VcekCert: der}
}

// preferSignature turns an error found before the chain check into
// ErrSignature when the report does not even verify with its own
// certificate: a changed signed byte is a signature failure first.
func (a *authentic) preferSignature(err error) error {
	if a.leaf == nil || signatureOK(a.raw, a.leaf) {
		return err
	}
	return fmt.Errorf("%w: the report does not verify with its %v certificate (it is also: %v)", ErrSignature, a.signer, err)
}

// verifyChain runs go-sev-guest's verify against the product line's roots
// only (never its fallback to built-in roots) and classifies failures.
func (v *Verifier) verifyChain(a *authentic, now time.Time) error {
	lr := v.roots.lines[a.line]
	if lr == nil {
		return fmt.Errorf("%w: no trusted root for product line %s", ErrUntrustedRoot, a.line)
	}
	// go-sev-guest keys roots by the line it derives from CPUID (it does not
	// know every Genoa model); hand it exactly the roots of our line.
	key := a.line
	if fms := a.att.Report.GetCpuid1EaxFms(); fms != 0 {
		key = kds.ProductLineFromFms(fms)
	}
	opts := &verify.Options{
		DisableCertFetching: true,
		Now:                 now,
		TrustedRoots:        map[string][]*trust.AMDRootCerts{key: lr.all},
	}
	if err := verify.SnpAttestation(a.att, opts); err != nil {
		return a.classify(lr, now, err)
	}
	// Which root signed (two more RSA checks, once per cached chain): its
	// CRLs apply, and whether it is AMD's.
	i := a.linkedRoot(lr)
	if i < 0 { // unreachable: verify found a chain
		a.nonAMD = lr.mixed() || lr.nonAMD[0]
		return nil
	}
	a.nonAMD = lr.nonAMD[i]
	a.ark, a.ica = lr.all[i].ProductCerts.Ark, intermediate(lr.all[i], a.signer)
	return nil
}

// classify names why go-sev-guest's verify refused the report.
func (a *authentic) classify(lr *lineRoots, now time.Time, err error) error {
	switch {
	case now.Before(a.leaf.NotBefore) || now.After(a.leaf.NotAfter):
		return fmt.Errorf("%w: %v certificate is valid from %s to %s, not at %s", ErrCertificate, a.signer,
			a.leaf.NotBefore.Format(time.RFC3339), a.leaf.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339))
	case !signatureOK(a.raw, a.leaf):
		return fmt.Errorf("%w: the report does not verify with its %v certificate", ErrSignature, a.signer)
	case a.linkedRoot(lr) >= 0:
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	return fmt.Errorf("%w: %v certificate is not issued under any trusted %s root: %w", ErrUntrustedRoot, a.signer, a.line, err)
}

// linkedRoot returns the index of the root whose ARK signed the ASK/ASVK
// that signed the leaf (signatures only, ignoring validity), or -1.
func (a *authentic) linkedRoot(lr *lineRoots) int {
	for i, r := range lr.all {
		ica := intermediate(r, a.signer)
		if ica != nil && a.leaf.CheckSignatureFrom(ica) == nil && ica.CheckSignatureFrom(r.ProductCerts.Ark) == nil {
			return i
		}
	}
	return -1
}

// intermediate returns the root's ASK for a VCEK, its ASVK for a VLEK.
func intermediate(r *trust.AMDRootCerts, signer abi.ReportSigner) *x509.Certificate {
	if signer == abi.VlekReportSigner {
		return r.ProductCerts.Asvk
	}
	return r.ProductCerts.Ask
}

// mixed reports whether the line has both AMD and non-AMD roots.
func (l *lineRoots) mixed() bool {
	for _, n := range l.nonAMD {
		if n != l.nonAMD[0] {
			return true
		}
	}
	return false
}

// consistent checks the report against its (now trusted) certificate: the
// certificate is issued for REPORTED_TCB, and a VCEK for the report's chip.
func (a *authentic) consistent() error {
	r := a.att.Report
	if uint64(a.exts.TCBVersion) != r.GetReportedTcb() {
		return fmt.Errorf("%w: %v certificate is for TCB 0x%016x, the report's REPORTED_TCB is 0x%016x",
			ErrCertificate, a.signer, uint64(a.exts.TCBVersion), r.GetReportedTcb())
	}
	masked := bytes.Equal(r.GetChipId(), make([]byte, len(r.GetChipId())))
	if a.signer == abi.VcekReportSigner && !masked && !bytes.Equal(r.GetChipId(), a.exts.HWID) {
		return fmt.Errorf("%w: VCEK hwID %x is not the report's CHIP_ID %x", ErrCertificate, a.exts.HWID, r.GetChipId())
	}
	return nil
}
