package evidence_test

import (
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
)

// BenchmarkVerifierCheck is one broker handshake's evidence check.
func BenchmarkVerifierCheck(b *testing.B) {
	v := vectors()[1] // trustee-milan-v2
	raw, cert := v.load(&testing.T{})
	verifier := amdVerifier(&testing.T{}, v.policy)
	ev := v.evidence(raw, cert)
	o := evidence.Options{Now: asOf}
	for b.Loop() {
		if _, err := verifier.Check(ev, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawGoSevGuest is the baseline: go-sev-guest verify+validate of the
// same report with roots parsed once.
func BenchmarkRawGoSevGuest(b *testing.B) {
	v := vectors()[1]
	raw, cert := v.load(&testing.T{})
	root := trust.AMDRootCertsProduct("Milan")
	if err := root.FromKDSCertBytes(trust.AskArkMilanVcekBytes); err != nil {
		b.Fatal(err)
	}
	vopts := &verify.Options{DisableCertFetching: true, Now: asOf,
		TrustedRoots: map[string][]*trust.AMDRootCerts{"Milan": {root}}}
	vmpl := 0
	for b.Loop() {
		report, err := abi.ReportToProto(raw)
		if err != nil {
			b.Fatal(err)
		}
		att := &spb.Attestation{Report: report, CertificateChain: &spb.CertificateChain{VcekCert: cert.Raw}}
		if err := verify.SnpAttestation(att, vopts); err != nil {
			b.Fatal(err)
		}
		if err := validate.SnpAttestation(att, &validate.Options{GuestPolicy: abi.SnpPolicy{SMT: true},
			VMPL: &vmpl, PermitProvisionalFirmware: true}); err != nil {
			b.Fatal(err)
		}
	}
}
