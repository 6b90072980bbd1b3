package evidence

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/google/go-sev-guest/verify/trust"
)

// Roots is an immutable set of trusted ARK -> ASK/ASVK chains by product
// line. Build it once (Policy.Roots, AMDRoots, LoadRoots) and share it.
type Roots struct {
	lines map[string]*lineRoots
}

// lineRoots holds the chains of one product line; nonAMD[i] says whether
// all[i] is a chain other than AMD's.
type lineRoots struct {
	all    []*trust.AMDRootCerts
	nonAMD []bool
}

// amdBundles are AMD's KDS cert_chain files (ASK or ASVK, then ARK) as
// embedded in go-sev-guest's verify/trust.
func amdBundles() map[string][][]byte {
	return map[string][][]byte{
		"Milan": {trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes},
		"Genoa": {trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes},
		"Turin": {trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes},
	}
}

// AMDRoots returns AMD's VCEK and VLEK chains for Milan, Genoa and Turin.
func AMDRoots() (*Roots, error) {
	r := &Roots{lines: map[string]*lineRoots{}}
	for line, bundles := range amdBundles() {
		for _, b := range bundles {
			// Parsed like extra roots: trust.FromKDSCertBytes refuses the
			// Turin VLEK bundle's trailing newline.
			c, err := parseChainPEM(b)
			if err == nil && c.ProductLine != line {
				err = fmt.Errorf("ARK is for %s", c.ProductLine)
			}
			if err != nil {
				return nil, fmt.Errorf("parsing AMD's embedded %s chain: %w", line, err)
			}
			r.add(line, c, false)
		}
	}
	return r, nil
}

// LoadRoots reads PEM files holding one ARK plus its ASK and/or ASVK each.
// A chain whose ARK is not one of AMD's is marked non-AMD.
func LoadRoots(paths ...string) (*Roots, error) {
	amd, err := AMDRoots()
	if err != nil {
		return nil, err
	}
	r := &Roots{lines: map[string]*lineRoots{}}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading root chain: %w", err)
		}
		c, err := parseChainPEM(data)
		if err != nil {
			return nil, fmt.Errorf("root chain %s: %w", path, err)
		}
		r.add(c.ProductLine, c, !amd.hasARK(c.ProductCerts.Ark))
	}
	return r, nil
}

// Roots loads the roots the policy trusts. An extra root whose ARK is not
// AMD's is an ErrInvalidPolicy error naming its file unless
// InsecureNonAMDRoots is set; then it logs a warning for every such chain:
// evidence signed under it is not evidence of real hardware.
func (p *Policy) Roots(logger *slog.Logger) (*Roots, error) {
	r := &Roots{lines: map[string]*lineRoots{}}
	if p.TrustAMDRoots {
		amd, err := AMDRoots()
		if err != nil {
			return nil, err
		}
		r.merge(amd)
	}
	for _, path := range p.ExtraRoots {
		extra, err := LoadRoots(path)
		if err != nil {
			return nil, err
		}
		if extra.NonAMD() && !p.InsecureNonAMDRoots {
			return nil, fmt.Errorf("%w: extra_roots: %s: its ARK is not AMD's, so reports signed under it prove nothing "+
				"about real SEV-SNP hardware (set insecure_non_amd_roots: true to trust it anyway, e.g. for snpemu)", ErrInvalidPolicy, path)
		}
		extra.warnNonAMD(logger, path)
		r.merge(extra)
	}
	return r, nil
}

// NonAMD reports whether any trusted chain is not AMD's.
func (r *Roots) NonAMD() bool {
	for _, l := range r.lines {
		for _, n := range l.nonAMD {
			if n {
				return true
			}
		}
	}
	return false
}

func (r *Roots) add(line string, c *trust.AMDRootCerts, nonAMD bool) {
	l := r.lines[line]
	if l == nil {
		l = &lineRoots{}
		r.lines[line] = l
	}
	l.all = append(l.all, c)
	l.nonAMD = append(l.nonAMD, nonAMD)
}

func (r *Roots) merge(o *Roots) {
	for line, l := range o.lines {
		for i, c := range l.all {
			r.add(line, c, l.nonAMD[i])
		}
	}
}

// issuers returns every trusted ARK, ASK and ASVK (the possible CRL signers).
func (r *Roots) issuers() []*x509.Certificate {
	var certs []*x509.Certificate
	for _, l := range r.lines {
		for _, c := range l.all {
			for _, cert := range []*x509.Certificate{c.ProductCerts.Ark, c.ProductCerts.Ask, c.ProductCerts.Asvk} {
				if cert != nil {
					certs = append(certs, cert)
				}
			}
		}
	}
	return certs
}

func (r *Roots) hasARK(ark *x509.Certificate) bool {
	for _, l := range r.lines {
		for _, c := range l.all {
			if bytes.Equal(c.ProductCerts.Ark.Raw, ark.Raw) {
				return true
			}
		}
	}
	return false
}

func (r *Roots) warnNonAMD(logger *slog.Logger, path string) {
	for line, l := range r.lines {
		for i, c := range l.all {
			if !l.nonAMD[i] {
				continue
			}
			sum := sha256.Sum256(c.ProductCerts.Ark.Raw)
			logger.Warn("TRUSTING A NON-AMD ROOT: reports signed under it are NOT evidence of real SEV-SNP hardware",
				"path", path, "product_line", line, "ark_sha256", hex.EncodeToString(sum[:]))
		}
	}
}

// parseChainPEM accepts CERTIFICATE blocks in any order: exactly one
// self-signed ARK named "ARK-<line>", and an ASK ("SEV-<line>") and/or ASVK
// ("SEV-VLEK-<line>") each signed by it.
func parseChainPEM(data []byte) (*trust.AMDRootCerts, error) {
	certs, err := pemCertificates(data)
	if err != nil {
		return nil, err
	}
	var ark *x509.Certificate
	for _, c := range certs {
		if strings.HasPrefix(c.Subject.CommonName, "ARK-") {
			if ark != nil {
				return nil, errors.New("more than one ARK")
			}
			ark = c
		}
	}
	if ark == nil {
		return nil, errors.New("no ARK (common name ARK-<product line>)")
	}
	if err := ark.CheckSignatureFrom(ark); err != nil {
		return nil, fmt.Errorf("ARK is not self-signed: %w", err)
	}
	line := strings.TrimPrefix(ark.Subject.CommonName, "ARK-")
	if !knownLine(line) {
		return nil, fmt.Errorf("ARK product line %q is not Milan, Genoa or Turin", line)
	}
	pc, err := intermediates(certs, ark, line)
	if err != nil {
		return nil, err
	}
	root := trust.AMDRootCertsProduct(line)
	root.ProductCerts = pc
	return root, nil
}

func intermediates(certs []*x509.Certificate, ark *x509.Certificate, line string) (*trust.ProductCerts, error) {
	pc := &trust.ProductCerts{Ark: ark}
	for _, c := range certs {
		var slot **x509.Certificate
		switch c.Subject.CommonName {
		case ark.Subject.CommonName:
			continue
		case "SEV-" + line:
			slot = &pc.Ask
		case "SEV-VLEK-" + line:
			slot = &pc.Asvk
		default:
			return nil, fmt.Errorf("unexpected certificate %q in a %s root chain", c.Subject.CommonName, line)
		}
		if *slot != nil {
			return nil, fmt.Errorf("more than one %q", c.Subject.CommonName)
		}
		if err := c.CheckSignatureFrom(ark); err != nil {
			return nil, fmt.Errorf("%s is not signed by the ARK: %w", c.Subject.CommonName, err)
		}
		*slot = c
	}
	if pc.Ask == nil && pc.Asvk == nil {
		return nil, errors.New("no ASK or ASVK next to the ARK")
	}
	return pc, nil
}

func pemCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, errors.New("trailing data after the last PEM block")
	}
	return certs, nil
}

func knownLine(line string) bool {
	return line == "Milan" || line == "Genoa" || line == "Turin"
}
