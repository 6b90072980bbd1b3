package broker_test

import (
	"crypto/sha512"
	"testing"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
)

// rawCase is one emulator report with its VCEK and the options a broker
// would verify and validate it with.
type rawCase struct {
	rep, vcek []byte
	vopts     *verify.Options
	valid     *validate.Options
}

func newRawCase(b *testing.B, srv *emu.Server) *rawCase {
	st, err := emu.Load(chainDir)
	if err != nil {
		b.Fatal(err)
	}
	rd := [64]byte(append(sha512.New384().Sum(nil), make([]byte, 16)...))
	rep, table, err := srv.Report(rd, 0)
	if err != nil {
		b.Fatal(err)
	}
	certs, err := kbs.ParseCertTable(table)
	if err != nil {
		b.Fatal(err)
	}
	vmpl := 0
	meas := srv.Measurement()
	return &rawCase{rep: rep, vcek: certs[0].DER,
		vopts: &verify.Options{DisableCertFetching: true, TrustedRoots: st.TrustedRoots()},
		valid: &validate.Options{GuestPolicy: abi.SnpPolicy{SMT: true}, VMPL: &vmpl, ReportData: rd[:],
			Measurement: meas[:], PermitProvisionalFirmware: true}}
}

// run verifies and validates the report n times.
func (c *rawCase) run(b *testing.B, n int) {
	for range n {
		pr, err := abi.ReportToProto(c.rep)
		if err != nil {
			b.Fatal(err)
		}
		att := &spb.Attestation{Report: pr, CertificateChain: &spb.CertificateChain{VcekCert: c.vcek}}
		if err := verify.SnpAttestation(att, c.vopts); err != nil {
			b.Fatal(err)
		}
		if err := validate.SnpAttestation(att, c.valid); err != nil {
			b.Fatal(err)
		}
	}
}
