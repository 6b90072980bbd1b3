package evidence_test

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// vectorDir holds real AMD-signed reports (see shared/peer-vectors/README.md).
const vectorDir = "../../../../shared/peer-vectors/snp-reports"

// asOf is inside every peer vector certificate's validity (checked below).
var asOf = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

type vector struct {
	name    string
	product string
	signer  string
	// policy changes DefaultPolicy so the vector's known properties pass.
	policy func(*evidence.Policy)
	// refusedByDefault is the sentinel the default policy refuses it with.
	refusedByDefault error
}

func vectors() []vector {
	return []vector{
		{"gosevguest-milan-v2", "Milan", "VCEK", func(p *evidence.Policy) { p.InsecureAllowDebug = true }, evidence.ErrDebug},
		{"trustee-milan-v2", "Milan", "VCEK", func(*evidence.Policy) {}, nil},
		{"trustee-milan-vlek", "Milan", "VLEK", func(p *evidence.Policy) { p.VMPL = ptr(1) }, evidence.ErrVMPL},
		{"trustee-genoa", "Genoa", "VCEK", func(*evidence.Policy) {}, nil},
	}
}

func ptr[T any](v T) *T { return &v }

// load returns the vector's raw report and certificate, read without the
// code under test (the Genoa one through the test's own JSON decoder).
func (v vector) load(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	var raw, der []byte
	switch v.name {
	case "trustee-genoa":
		raw, der = decodeTrusteeEvidence(t, filepath.Join(vectorDir, "trustee-genoa-evidence.json"))
	default:
		raw = readFile(t, v.name+"-report.bin")
		certName := map[string]string{
			"gosevguest-milan-v2": "gosevguest-milan-vcek.der",
			"trustee-milan-v2":    "trustee-milan-vcek.der",
			"trustee-milan-vlek":  "trustee-milan-vlek.der",
		}[v.name]
		der = readFile(t, certName)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing %s certificate: %v", v.name, err)
	}
	return raw, cert
}

func (v vector) evidence(raw []byte, cert *x509.Certificate) evidence.Evidence {
	return evidence.Evidence{Report: raw, Certs: []evidence.Cert{{Type: v.signer, DER: cert.Raw}}}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("peer vector missing: %v", err)
	}
	return b
}

// amdVerifier trusts AMD's roots without revocation checks: no AMD CRL is
// stored with the vectors (revocation is tested with the emulated chain).
func amdVerifier(t *testing.T, edit func(*evidence.Policy)) *evidence.Verifier {
	t.Helper()
	p := evidence.DefaultPolicy()
	p.InsecureSkipRevocation = true
	edit(&p)
	v, err := evidence.NewVerifier(&p, quiet)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestPeerVectorsVerify(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			raw, cert := v.load(t)
			if asOf.Before(cert.NotBefore) || asOf.After(cert.NotAfter) {
				t.Fatalf("test time %v outside certificate validity %v..%v", asOf, cert.NotBefore, cert.NotAfter)
			}
			res, err := amdVerifier(t, v.policy).Check(v.evidence(raw, cert), evidence.Options{Now: asOf, Product: v.product})
			if err != nil {
				t.Fatalf("Check: %v (reason %s)", err, evidence.Reason(err))
			}
			if !bytes.Equal(res.Measurement, raw[0x90:0xC0]) {
				t.Errorf("measurement %x, want %x", res.Measurement, raw[0x90:0xC0])
			}
			if !bytes.Equal(res.ChipID, raw[0x1A0:0x1E0]) || !bytes.Equal(res.ReportData, raw[0x50:0x90]) {
				t.Errorf("chip id / report data differ from the raw report")
			}
			if want := binary.LittleEndian.Uint32(raw); res.Version != want {
				t.Errorf("version %d, want %d", res.Version, want)
			}
			if res.Signer != v.signer || res.Product != v.product || res.NonAMDRoot {
				t.Errorf("signer %s product %s nonAMD %v, want %s %s false", res.Signer, res.Product, res.NonAMDRoot, v.signer, v.product)
			}
		})
	}
}

func TestPeerVectorsDefaultPolicy(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			raw, cert := v.load(t)
			res, err := amdVerifier(t, func(*evidence.Policy) {}).Check(v.evidence(raw, cert), evidence.Options{Now: asOf})
			if !errors.Is(err, v.refusedByDefault) || (v.refusedByDefault == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, v.refusedByDefault)
			}
			if res == nil {
				t.Fatal("authentic report refused by policy must still return its Result")
			}
		})
	}
}

func TestPeerVectorsBitFlips(t *testing.T) {
	// [offset, bit]: REPORT_DATA, MEASUREMENT, POLICY (ABI minor; DEBUG;
	// must-be-one bit 17), VMPL, a must-be-zero byte, CHIP_ID, REPORTED_TCB,
	// signature R and S. Flips that also break the format must still read
	// as signature failures.
	flips := [][2]int{{0x50, 0}, {0x8F, 7}, {0x90, 0}, {0xBF, 4}, {0x08, 0}, {0x0A, 3}, {0x0A, 1}, {0x30, 1},
		{0x4C, 0}, {0x1A0, 2}, {0x180, 0}, {0x2A0, 0}, {0x2C0, 5}, {0x2E8, 1}}
	for _, v := range vectors() {
		raw, cert := v.load(t)
		verifier := amdVerifier(t, v.policy)
		for _, f := range flips {
			bad := bytes.Clone(raw)
			bad[f[0]] ^= 1 << f[1]
			_, err := verifier.Check(v.evidence(bad, cert), evidence.Options{Now: asOf})
			if !errors.Is(err, evidence.ErrSignature) {
				t.Errorf("%s: bit %d of 0x%x flipped: err = %v, want ErrSignature", v.name, f[1], f[0], err)
			}
		}
	}
}

func TestPeerVectorsOutsideValidity(t *testing.T) {
	for _, v := range vectors() {
		raw, cert := v.load(t)
		verifier := amdVerifier(t, v.policy)
		for _, at := range []time.Time{cert.NotAfter.Add(24 * time.Hour), cert.NotBefore.Add(-time.Hour)} {
			_, err := verifier.Check(v.evidence(raw, cert), evidence.Options{Now: at})
			if !errors.Is(err, evidence.ErrCertificate) {
				t.Errorf("%s at %v: err = %v, want ErrCertificate", v.name, at, err)
			}
		}
	}
}

func TestPeerVectorsUntrustedRoot(t *testing.T) {
	rootsPath := filepath.Join(t.TempDir(), "emu.pem")
	if err := testChain(t).WriteRoots(rootsPath); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors() {
		raw, cert := v.load(t)
		verifier := amdVerifier(t, func(p *evidence.Policy) {
			v.policy(p)
			p.TrustAMDRoots, p.ExtraRoots, p.InsecureNonAMDRoots = false, []string{rootsPath}, true
		})
		_, err := verifier.Check(v.evidence(raw, cert), evidence.Options{Now: asOf})
		if !errors.Is(err, evidence.ErrUntrustedRoot) {
			t.Errorf("%s without AMD roots: err = %v, want ErrUntrustedRoot", v.name, err)
		}
	}
}

func TestPeerVectorsCertificateProblems(t *testing.T) {
	v := vectors()[1]
	raw, cert := v.load(t)
	verifier := amdVerifier(t, v.policy)
	cases := map[string][]evidence.Cert{
		"none":      nil,
		"only VLEK": {{Type: "VLEK", DER: cert.Raw}},
		"garbage":   {{Type: "VCEK", DER: []byte("not a certificate")}},
		"two VCEKs": {{Type: "VCEK", DER: cert.Raw}, {Type: "vcek", DER: cert.Raw}},
	}
	for name, certs := range cases {
		_, err := verifier.Check(evidence.Evidence{Report: raw, Certs: certs}, evidence.Options{Now: asOf})
		if !errors.Is(err, evidence.ErrCertificate) {
			t.Errorf("%s: err = %v, want ErrCertificate", name, err)
		}
	}
	_, err := verifier.Check(v.evidence(raw, cert), evidence.Options{Now: asOf, Product: "Genoa"})
	if !errors.Is(err, evidence.ErrProduct) {
		t.Errorf("Milan report checked as Genoa: err = %v, want ErrProduct", err)
	}
	_, err = verifier.Check(v.evidence(raw[:0x2A0], cert), evidence.Options{Now: asOf})
	if !errors.Is(err, evidence.ErrMalformed) {
		t.Errorf("truncated report: err = %v, want ErrMalformed", err)
	}
}

// TestConcurrentChecks: one Verifier serves many handshakes at once (run
// with -race).
func TestConcurrentChecks(t *testing.T) {
	v := vectors()[1]
	raw, cert := v.load(t)
	verifier := amdVerifier(t, v.policy)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ev := v.evidence(bytes.Clone(raw), cert)
			if i%2 == 1 {
				ev.Report[0x50] ^= 1
			}
			_, err := verifier.Check(ev, evidence.Options{Now: asOf})
			if (i%2 == 1) != errors.Is(err, evidence.ErrSignature) {
				err = fmt.Errorf("goroutine %d: unexpected outcome %w", i, err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
