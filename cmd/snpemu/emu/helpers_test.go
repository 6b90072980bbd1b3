package emu

import (
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
)

// newState makes and loads an emulator state with 2048-bit roots (faster to
// generate; nothing in the SNP checks depends on the root key size).
func newState(t *testing.T, product string) *State {
	t.Helper()
	dir := t.TempDir()
	if err := InitWith(dir, InitOptions{Product: product, RSABits: 2048}); err != nil {
		t.Fatalf("InitWith(%s): %v", product, err)
	}
	st, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func newServer(t *testing.T, st *State, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(st, cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}

// attestation parses a report and table with go-sev-guest's abi package.
func attestation(t *testing.T, report, table []byte) *spb.Attestation {
	t.Helper()
	proto, err := abi.ReportToProto(report)
	if err != nil {
		t.Fatalf("abi.ReportToProto: %v", err)
	}
	var ct abi.CertTable
	if err := ct.Unmarshal(table); err != nil {
		t.Fatalf("abi.CertTable.Unmarshal: %v", err)
	}
	return &spb.Attestation{Report: proto, CertificateChain: ct.Proto()}
}

// verifyWith checks the signature chain trusting st's roots (nil: AMD's).
func verifyWith(st *State, a *spb.Attestation) error {
	o := &verify.Options{DisableCertFetching: true, Now: time.Now()}
	if st != nil {
		o.TrustedRoots = st.TrustedRoots()
	}
	return verify.SnpAttestation(a, o)
}

// strictValidate is what a careful broker checks: every identity field set.
func strictValidate(a *spb.Attestation, st *State, measurement [48]byte, rd [64]byte) error {
	vmpl := 0
	return validate.SnpAttestation(a, &validate.Options{
		GuestPolicy: abi.SnpPolicy{SMT: true},
		Measurement: measurement[:],
		ReportData:  rd[:],
		ChipID:      st.ChipID[:],
		VMPL:        &vmpl,
	})
}

func reportData(b byte) [64]byte {
	var d [64]byte
	for i := range d {
		d[i] = b ^ byte(i*7)
	}
	return d
}

func measurement(b byte) [48]byte {
	var m [48]byte
	for i := range m {
		m[i] = b + byte(i)
	}
	return m
}
