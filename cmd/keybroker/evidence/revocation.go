package evidence

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/google/go-sev-guest/kds"
)

// crlSet holds the policy's CRLs by the trusted certificate that signed
// them. Built once by loadCRLs; immutable. A nil *crlSet has no CRLs and
// does not skip revocation, so it refuses every report.
type crlSet struct {
	// skip accepts an unknown revocation status (insecure_skip_revocation).
	skip bool
	// by maps a trusted ARK, ASK or ASVK (the very pointers of the
	// verifier's Roots) to what the CRLs it signed say.
	by map[*x509.Certificate]*issuerCRLs
}

// issuerCRLs merges the CRLs one trusted certificate signed.
type issuerCRLs struct {
	nextUpdate time.Time       // the latest NextUpdate among them
	revoked    map[string]bool // serial numbers (hex) any of them revokes
	paths      []string
}

// loadCRLs reads the CRL files and files each under every trusted ARK, ASK
// or ASVK whose key signed it (as go-sev-guest's verifyCRL, by signature
// alone: AMD's and emulated roots share names). A CRL that no trusted
// certificate signed is an error.
func loadCRLs(paths []string, roots *Roots, skip bool, logger *slog.Logger) (*crlSet, error) {
	s := &crlSet{skip: skip, by: map[*x509.Certificate]*issuerCRLs{}}
	issuers := roots.issuers()
	for _, path := range paths {
		crl, err := readCRL(path)
		if err != nil {
			return nil, err
		}
		signed := false
		for _, c := range issuers {
			if crl.CheckSignatureFrom(c) == nil {
				s.add(c, crl, path)
				signed = true
			}
		}
		if !signed {
			return nil, fmt.Errorf("CRL %s (issuer %q): not signed by any trusted ARK, ASK or ASVK", path, crl.Issuer.CommonName)
		}
		logger.Info("using CRL", "path", path, "issuer", crl.Issuer.CommonName, "this_update", crl.ThisUpdate,
			"next_update", crl.NextUpdate, "revoked", len(crl.RevokedCertificateEntries))
	}
	return s, nil
}

// readCRL parses a DER CRL, or a PEM file holding exactly one X509 CRL block.
func readCRL(path string) (*x509.RevocationList, error) {
	der, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CRL: %w", err)
	}
	if b, rest := pem.Decode(der); b != nil {
		if b.Type != "X509 CRL" || len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("CRL %s: want DER or exactly one PEM \"X509 CRL\" block", path)
		}
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", path, err)
	}
	return crl, nil
}

func (s *crlSet) add(issuer *x509.Certificate, crl *x509.RevocationList, path string) {
	e := s.by[issuer]
	if e == nil {
		e = &issuerCRLs{revoked: map[string]bool{}}
		s.by[issuer] = e
	}
	if crl.NextUpdate.After(e.nextUpdate) {
		e.nextUpdate = crl.NextUpdate
	}
	for _, r := range crl.RevokedCertificateEntries {
		e.revoked[serialKey(r.SerialNumber)] = true
	}
	e.paths = append(e.paths, path)
}

func serialKey(n *big.Int) string { return n.Text(16) }

// revokes reports whether any of the CRLs revokes serial (false for nil).
func (e *issuerCRLs) revokes(serial *big.Int) bool {
	return e != nil && e.revoked[serialKey(serial)]
}

// check refuses an authentic report whose ASK/ASVK a CRL of its ARK
// revokes, or whose VCEK/VLEK a CRL of its ASK/ASVK revokes; then, unless
// revocation is skipped, one whose ARK has no current CRL. Only map lookups:
// it runs on every Check, cached chain or not.
func (s *crlSet) check(a *authentic, now time.Time) error {
	if a.ark == nil || a.ica == nil { // unreachable: verification sets both
		return fmt.Errorf("%w: the trusted root of the %v's chain is not known", ErrRevocation, a.signer)
	}
	var ark, ica *issuerCRLs
	if s != nil {
		ark, ica = s.by[a.ark], s.by[a.ica]
	}
	var errs []error
	if ark.revokes(a.ica.SerialNumber) {
		errs = append(errs, fmt.Errorf("%w: %s serial %x is revoked by %s", ErrRevoked, a.ica.Subject.CommonName,
			a.ica.SerialNumber, strings.Join(ark.paths, ", ")))
	}
	if ica.revokes(a.leaf.SerialNumber) {
		errs = append(errs, fmt.Errorf("%w: %v serial %x is revoked by %s", ErrRevoked, a.signer,
			a.leaf.SerialNumber, strings.Join(ica.paths, ", ")))
	}
	if len(errs) > 0 || (s != nil && s.skip) {
		return errors.Join(errs...)
	}
	where := "the issuer of that root"
	if !a.nonAMD {
		where = kds.CrlLinkByKey(a.line, a.signer)
	}
	if ark == nil {
		return fmt.Errorf("%w: no CRL from %s (the root of this %v) is loaded: add %s to crls",
			ErrRevocation, a.ark.Subject.CommonName, a.signer, where)
	}
	if !now.Before(ark.nextUpdate) {
		return fmt.Errorf("%w: the newest CRL from %s (%s) was due for renewal at %s, before %s: fetch a fresh one from %s",
			ErrRevocation, a.ark.Subject.CommonName, strings.Join(ark.paths, ", "),
			ark.nextUpdate.Format(time.RFC3339), now.Format(time.RFC3339), where)
	}
	return nil
}
