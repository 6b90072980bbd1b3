package evidence

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify"
)

// chainCacheSize bounds the endorsement certificates a Verifier remembers: a
// fleet has one VCEK per chip and TCB, or one VLEK per provider.
const chainCacheSize = 1024

// chainKey names one chain verification. Everything go-sev-guest's chain
// check (verify.SnpAttestation minus the report signature) depends on is in
// the key or fixed for the Verifier: the certificate (its SHA-256), the
// signer kind, the product line the report's CPUID names (it selects our
// roots; "" for v2 reports, whose line then comes from the certificate) and
// the line go-sev-guest derives from the report's CPUID_1_EAX (it selects
// go-sev-guest's checks). The time is not: it is checked on every use.
type chainKey struct {
	sum     [sha256.Size]byte
	signer  abi.ReportSigner
	line    string
	fmsLine string
}

// chainEntry is an endorsement certificate whose chain to a trusted root
// go-sev-guest verified once. Immutable once stored.
type chainEntry struct {
	der  []byte // the exact certificate bytes, compared on every use
	leaf *x509.Certificate
	exts *kds.Extensions
	line string
	// The verified chain was valid at every instant in [notBefore, notAfter]:
	// the latest NotBefore and the earliest NotAfter of its certificates.
	notBefore, notAfter time.Time
	nonAMD              bool
	ark, ica            *x509.Certificate // the trusted root it chains to
}

// chainCache remembers verified endorsement chains so a report from a known
// V[CL]EK costs one ECDSA check instead of re-verifying RSA-PSS signatures.
// It holds only chains that verified; the CRLs are consulted after it, hit
// or miss (Verifier.Check). A hit is used only when the report then passes
// every check (anything else re-runs the full verification, so
// refusals and their errors never come from the cache). Safe for concurrent
// use; at most max entries, evicting an arbitrary one when full.
type chainCache struct {
	mu  sync.Mutex
	max int
	m   map[chainKey]*chainEntry
}

func newChainCache(max int) *chainCache {
	return &chainCache{max: max, m: make(map[chainKey]*chainEntry)}
}

func (c *chainCache) get(k chainKey) *chainEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *chainCache) put(k chainKey, e *chainEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // map order is unspecified: an arbitrary victim
			delete(c.m, old)
			break
		}
	}
	c.m[k] = e
}

func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// keyFor returns the cache key of a decoded report and its certificate.
func keyFor(signer abi.ReportSigner, der []byte, report *spb.Report, cpuidLine string) chainKey {
	k := chainKey{sum: sha256.Sum256(der), signer: signer, line: cpuidLine}
	if fms := report.GetCpuid1EaxFms(); fms != 0 {
		k.fmsLine = kds.ProductLineFromFms(fms)
	}
	return k
}

// cachedAuthenticate is authenticate for a certificate whose chain verified
// before. It returns nil (and the caller verifies from scratch) unless the
// certificate is the same bytes, every certificate of the verified chain is
// valid at o.Now, the report's signature verifies with it (go-sev-guest's
// own check, as verify.SnpAttestation ends with) and the report passes
// everything else authenticate checks.
func (v *Verifier) cachedAuthenticate(raw, der []byte, signer abi.ReportSigner, o Options) *authentic {
	if abi.ValidateReportFormat(raw) != nil {
		return nil
	}
	report, err := abi.ReportToProto(raw)
	if err != nil {
		return nil
	}
	cpuidLine, err := lineFromCPUID(raw)
	if err != nil {
		return nil
	}
	e := v.chains.get(keyFor(signer, der, report, cpuidLine))
	switch {
	case e == nil || !bytes.Equal(e.der, der):
		return nil
	case o.Product != "" && o.Product != e.line:
		return nil
	case o.Now.Before(e.notBefore) || o.Now.After(e.notAfter): // as crypto/x509 checks validity
		return nil
	case verify.SnpProtoReportSignature(report, e.leaf) != nil:
		return nil
	}
	a := &authentic{raw: raw, signer: signer, leaf: e.leaf, exts: e.exts, line: e.line, nonAMD: e.nonAMD,
		ark: e.ark, ica: e.ica, att: &spb.Attestation{Report: report, CertificateChain: chainProto(signer, der)}}
	if a.consistent() != nil {
		return nil
	}
	return a
}

// remember stores a chain that verify.SnpAttestation just accepted at now,
// with the validity window of the chain crypto/x509 builds to the first of
// the line's roots that accepts it (the roots go-sev-guest tried, in its
// order). Within that window the same chain verifies again, so the full
// check would accept the certificate too.
func (v *Verifier) remember(a *authentic, der []byte, now time.Time) {
	cpuidLine, err := lineFromCPUID(a.raw)
	if err != nil {
		return
	}
	// Parsed again from a private copy: a parsed certificate shares the
	// caller's buffer, which the caller may reuse.
	e := &chainEntry{der: bytes.Clone(der), line: a.line, nonAMD: a.nonAMD, ark: a.ark, ica: a.ica}
	if e.leaf, err = x509.ParseCertificate(e.der); err != nil {
		return
	}
	if e.exts, err = kds.CertificateExtensions(e.leaf, a.signer); err != nil {
		return
	}
	for _, r := range v.roots.lines[a.line].all {
		opts := r.X509Options(now, a.signer)
		if opts == nil {
			continue
		}
		if chains, err := e.leaf.Verify(*opts); err == nil && len(chains) > 0 {
			e.notBefore, e.notAfter = window(chains[0])
			v.chains.put(keyFor(a.signer, der, a.att.Report, cpuidLine), e)
			return
		}
	}
}

// window intersects the validity periods of a chain's certificates.
func window(chain []*x509.Certificate) (notBefore, notAfter time.Time) {
	notBefore, notAfter = chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	return notBefore, notAfter
}
