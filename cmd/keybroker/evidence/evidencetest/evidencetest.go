// Package evidencetest mints SEV-SNP attestation reports signed under a
// freshly generated, non-AMD ARK -> ASK/ASVK -> VCEK/VLEK chain, and CRLs
// under that chain, for tests of code that consumes evidence. Certificates come from go-sev-guest's
// testing.AmdSignerBuilder; the report bytes are laid out here from the SNP
// ABI offsets (REFERENCE.md section 2). Test use only: a Chain is not safe for
// concurrent use (go-sev-guest's signer shares a random source).
package evidencetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	sgtest "github.com/google/go-sev-guest/testing"
)

// Chain is an emulated AMD key hierarchy for one product.
type Chain struct {
	productName string
	builder     *sgtest.AmdSignerBuilder
	roots       []byte
	// issued holds the ARK, ASK and ASVK certificates of RootsPEM, the
	// issuers of the chain's CRLs.
	issued  *sgtest.AmdSigner
	serials Serials
}

// Serials are the serial numbers of a chain's certificates, drawn at random
// by NewChain. Every VCEK (VLEK) a chain issues has the same serial, so one
// CRL entry revokes them all.
type Serials struct {
	ASK, ASVK, VCEK, VLEK *big.Int
}

// NewChain generates fresh keys (RSA-2048 for ARK/ASK/ASVK, to keep tests
// fast; P-384 for VCEK/VLEK) and certifies them as of created (certificates
// then last 7 years for the VCEK/VLEK, 25 for the roots). productName is a
// KDS product name such as "Milan-B0" or "Genoa-B1". The ASK and ASVK may
// sign CRLs (key usage CRL Sign), unlike AMD's, so tests can revoke a VCEK.
func NewChain(productName string, created time.Time) (*Chain, error) {
	keys, err := freshKeys()
	if err != nil {
		return nil, err
	}
	serials, err := freshSerials()
	if err != nil {
		return nil, err
	}
	icaUsage := x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	b := &sgtest.AmdSignerBuilder{
		Keys: keys, ProductName: productName,
		ArkCreationTime: created, AskCreationTime: created, AsvkCreationTime: created,
		VcekCreationTime: created, VlekCreationTime: created,
		AskCustom:  sgtest.CertOverride{SerialNumber: serials.ASK, KeyUsage: icaUsage},
		AsvkCustom: sgtest.CertOverride{SerialNumber: serials.ASVK, KeyUsage: icaUsage},
		VcekCustom: sgtest.CertOverride{SerialNumber: serials.VCEK},
		VlekCustom: sgtest.CertOverride{SerialNumber: serials.VLEK},
	}
	s, err := b.TestOnlyCertChain()
	if err != nil {
		return nil, fmt.Errorf("building emulated AMD chain: %w", err)
	}
	var roots []byte
	for _, c := range [][]byte{s.Ark.Raw, s.Ask.Raw, s.Asvk.Raw} {
		roots = append(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return &Chain{productName: productName, builder: b, roots: roots, issued: s, serials: serials}, nil
}

func freshSerials() (Serials, error) {
	var s Serials
	for _, p := range []**big.Int{&s.ASK, &s.ASVK, &s.VCEK, &s.VLEK} {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
		if err != nil {
			return s, fmt.Errorf("drawing a serial number: %w", err)
		}
		*p = n.Add(n, big.NewInt(1)) // positive, as RFC 5280 wants
	}
	return s, nil
}

// Serials returns copies of the chain's serial numbers.
func (c *Chain) Serials() Serials {
	cp := func(n *big.Int) *big.Int { return new(big.Int).Set(n) }
	return Serials{ASK: cp(c.serials.ASK), ASVK: cp(c.serials.ASVK), VCEK: cp(c.serials.VCEK), VLEK: cp(c.serials.VLEK)}
}

// CRL returns a DER X.509 CRL issued by the chain's "ARK", "ASK" or "ASVK"
// (RSASSA-PSS with SHA-384, as AMD signs), valid from thisUpdate to
// nextUpdate and revoking the given serial numbers.
func (c *Chain) CRL(issuer string, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) ([]byte, error) {
	cert, key := map[string]*x509.Certificate{"ARK": c.issued.Ark, "ASK": c.issued.Ask, "ASVK": c.issued.Asvk}[issuer],
		map[string]*rsa.PrivateKey{"ARK": c.builder.Keys.Ark, "ASK": c.builder.Keys.Ask, "ASVK": c.builder.Keys.Asvk}[issuer]
	if cert == nil {
		return nil, fmt.Errorf("CRL issuer %q: want ARK, ASK or ASVK", issuer)
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm: x509.SHA384WithRSAPSS,
		Number:             big.NewInt(thisUpdate.Unix()),
		ThisUpdate:         thisUpdate,
		NextUpdate:         nextUpdate,
	}
	for _, n := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: n, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, cert, key)
	if err != nil {
		return nil, fmt.Errorf("issuing %s CRL: %w", issuer, err)
	}
	return der, nil
}

func freshKeys() (*sgtest.AmdKeys, error) {
	var k sgtest.AmdKeys
	var err error
	for _, p := range []**rsa.PrivateKey{&k.Ark, &k.Ask, &k.Asvk} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("generating RSA key: %w", err)
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.Vcek, &k.Vlek} {
		if *p, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			return nil, fmt.Errorf("generating ECDSA key: %w", err)
		}
	}
	return &k, nil
}

// RootsPEM returns the chain's ARK, ASK and ASVK certificates as PEM, the
// form evidence.Policy.ExtraRoots files take.
func (c *Chain) RootsPEM() []byte { return append([]byte(nil), c.roots...) }

// WriteRoots writes RootsPEM to path.
func (c *Chain) WriteRoots(path string) error {
	if err := os.WriteFile(path, c.roots, 0o644); err != nil {
		return fmt.Errorf("writing emulated roots: %w", err)
	}
	return nil
}

// Report lists the fields Mint sets; the rest of the report is zero.
type Report struct {
	Version     uint32 // 0 means 3
	Policy      uint64 // 0 means 0x30000 (SMT allowed, bit 17)
	VMPL        uint32
	ReportData  [64]byte
	Measurement [48]byte
	HostData    [32]byte
	IDKeyDigest [48]byte
	// TCB is used for CURRENT, REPORTED, COMMITTED and LAUNCH TCB, and is
	// the TCB the VCEK/VLEK is issued for.
	TCB    uint64
	ChipID [64]byte
	// VLEK signs with the VLEK (SIGNER_INFO 1) instead of the VCEK.
	VLEK bool
	// CPUID is family, model, stepping for version >= 3; zero means
	// 0x19/0x01/0x00 (Milan B0).
	CPUID [3]byte
}

// Mint lays out r, issues a VCEK (for r.TCB and r.ChipID) or VLEK (for
// r.TCB) with the chain's serial number for it, and signs the report.
func (c *Chain) Mint(r Report) ([]byte, []evidence.Cert, error) {
	raw := layout(r)
	parts := kds.DecomposeTCBVersion(kds.TCBVersion(r.TCB))
	c.builder.VcekCustom.Extensions = sgtest.CustomExtensions(parts, r.ChipID[:], "", c.productName)
	c.builder.VlekCustom.Extensions = sgtest.CustomExtensions(parts, nil, "cvminit-test", c.productName)
	s, err := c.builder.TestOnlyCertChain()
	if err != nil {
		return nil, nil, fmt.Errorf("issuing endorsement key certificate: %w", err)
	}
	cert := evidence.Cert{Type: "VCEK", DER: s.Vcek.Raw}
	if r.VLEK {
		cert = evidence.Cert{Type: "VLEK", DER: s.Vlek.Raw}
	}
	if err := c.sign(raw); err != nil {
		return nil, nil, err
	}
	return raw, []evidence.Cert{cert}, nil
}

// Resign signs raw again in place after a test changed it, with the key
// SIGNER_INFO names (the certificates from the last Mint stay valid).
func (c *Chain) Resign(raw []byte) error { return c.sign(raw) }

func (c *Chain) sign(raw []byte) error {
	s := &sgtest.AmdSigner{Keys: c.builder.Keys}
	R, S, err := s.Sign(raw[:0x2A0])
	if err != nil {
		return fmt.Errorf("signing report: %w", err)
	}
	return abi.SetSignature(R, S, raw)
}

// layout writes r at the ATTESTATION_REPORT offsets.
func layout(r Report) []byte {
	raw := make([]byte, abi.ReportSize)
	le := binary.LittleEndian
	version, policy, cpuid := r.Version, r.Policy, r.CPUID
	if version == 0 {
		version = 3
	}
	if policy == 0 {
		policy = 0x30000
	}
	if cpuid == [3]byte{} {
		cpuid = [3]byte{0x19, 0x01, 0x00}
	}
	le.PutUint32(raw[0x00:], version)
	le.PutUint64(raw[0x08:], policy)
	le.PutUint32(raw[0x30:], r.VMPL)
	le.PutUint32(raw[0x34:], 1) // ECDSA P-384 with SHA-384
	for _, off := range []int{0x38, 0x180, 0x1E0, 0x1F0} {
		le.PutUint64(raw[off:], r.TCB)
	}
	if r.VLEK {
		le.PutUint32(raw[0x48:], 1<<2)
	}
	copy(raw[0x50:], r.ReportData[:])
	copy(raw[0x90:], r.Measurement[:])
	copy(raw[0xC0:], r.HostData[:])
	copy(raw[0xE0:], r.IDKeyDigest[:])
	if version >= 3 {
		copy(raw[0x188:], cpuid[:])
	}
	copy(raw[0x1A0:], r.ChipID[:])
	copy(raw[0x1E8:], []byte{40, 55, 1}) // current build, minor, major: 1.55.40
	copy(raw[0x1EC:], []byte{40, 55, 1}) // committed, the same
	return raw
}
