package emu

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cvminit/cvminit/initramfs/launch"
	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
)

// DefaultPolicy is the guest POLICY the emulator reports: bit 17 (must be one)
// and bit 16 (SMT allowed); no debugging, no migration agent.
const DefaultPolicy = 0x30000

// Policy bits a misbehaving emulator sets (SNP ABI, guest policy).
const (
	policyMigrationAgent = 1 << 18
	policyDebug          = 1 << 19
)

// Config says what the emulated launch measured and how the emulator misbehaves.
type Config struct {
	// Launch, when set, is measured with launch.Digest to give MEASUREMENT.
	Launch *launch.Options
	// Measurement is used as MEASUREMENT when Launch is nil.
	Measurement [48]byte
	// Policy is the guest POLICY; 0 means DefaultPolicy.
	Policy uint64

	// Misbehaviour, for tests of verifiers and of the guest's own checks.
	Debug           bool    // set POLICY bit 19 (DEBUG)
	MigrationAgent  bool    // set POLICY bit 18 (migration agent)
	LowerTCB        bool    // claim a TCB one SNP and microcode SPL below what the VCEK certifies
	CPUIDProduct    string  // claim another product line (Milan, Genoa, Turin) in the CPUID bytes
	ForceVMPL       *uint32 // claim this VMPL instead of the requested one
	WrongReportData bool    // sign a REPORT_DATA that differs from the request

	// Rand supplies REPORT_ID and signature randomness; nil means crypto/rand.
	Rand io.Reader
	// Log receives one line per request; nil discards.
	Log *slog.Logger
}

// Server answers report requests for one emulated launch.
type Server struct {
	st          *State
	cfg         Config
	measurement [48]byte
	cpuid       product
	certTable   []byte
	log         *slog.Logger
}

// NewServer prepares a server: it measures the launch (if Config.Launch is
// set), builds the certificate table and validates the misbehaviour settings.
func NewServer(st *State, cfg Config) (*Server, error) {
	s := &Server{st: st, cfg: cfg, measurement: cfg.Measurement, cpuid: st.product, log: cfg.Log}
	if cfg.Launch != nil {
		d, err := launch.Digest(*cfg.Launch)
		if err != nil {
			return nil, fmt.Errorf("measuring the launch: %w", err)
		}
		s.measurement = d
	}
	if cfg.CPUIDProduct != "" {
		p, err := lookupProduct(cfg.CPUIDProduct)
		if err != nil {
			return nil, err
		}
		s.cpuid = p
	}
	if cfg.ForceVMPL != nil && *cfg.ForceVMPL > 3 {
		return nil, fmt.Errorf("forced VMPL %d outside 0..3", *cfg.ForceVMPL)
	}
	if s.cfg.Rand == nil {
		s.cfg.Rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.certTable, err = buildCertTable(st); err != nil {
		return nil, err
	}
	return s, nil
}

// Measurement returns the MEASUREMENT the server puts in its reports.
func (s *Server) Measurement() [48]byte { return s.measurement }

// ErrBadVMPL is returned for a request at a VMPL outside 0..3.
var ErrBadVMPL = errors.New("VMPL outside 0..3")

// Report returns a signed version-3 ATTESTATION_REPORT binding reportData at
// vmpl, and the certificate table (VCEK, ASK, ARK) that goes with it.
func (s *Server) Report(reportData [64]byte, vmpl uint32) ([]byte, []byte, error) {
	if vmpl > 3 {
		return nil, nil, fmt.Errorf("%w: %d", ErrBadVMPL, vmpl)
	}
	r, err := s.body(reportData, vmpl)
	if err != nil {
		return nil, nil, err
	}
	if err := s.sign(r); err != nil {
		return nil, nil, err
	}
	return r, append([]byte(nil), s.certTable...), nil
}

// body fills the signed part of the report (SNP ABI table "ATTESTATION_REPORT").
func (s *Server) body(reportData [64]byte, vmpl uint32) ([]byte, error) {
	r := make([]byte, abi.ReportSize)
	le := binary.LittleEndian
	le.PutUint32(r[0x00:], abi.ReportVersion3)
	le.PutUint64(r[0x08:], s.policy())
	le.PutUint32(r[0x30:], s.vmpl(vmpl))
	le.PutUint32(r[0x34:], abi.SignEcdsaP384Sha384)
	tcb := uint64(s.tcb())
	le.PutUint64(r[0x38:], tcb) // CURRENT_TCB
	le.PutUint64(r[0x40:], s.st.product.platformInfo)
	le.PutUint32(r[0x48:], 0) // SIGNER_INFO: VCEK, no author key
	if s.cfg.WrongReportData {
		reportData[0] ^= 0xFF
	}
	copy(r[0x50:0x90], reportData[:])
	copy(r[0x90:0xC0], s.measurement[:])
	if _, err := io.ReadFull(s.cfg.Rand, r[0x140:0x160]); err != nil { // REPORT_ID
		return nil, fmt.Errorf("generating REPORT_ID: %w", err)
	}
	for i := 0x160; i < 0x180; i++ { // REPORT_ID_MA: all ones, no migration agent bound
		r[i] = 0xFF
	}
	le.PutUint64(r[0x180:], tcb) // REPORTED_TCB
	r[0x188], r[0x189], r[0x18A] = s.cpuid.family, s.cpuid.model, s.cpuid.stepping
	copy(r[0x1A0:0x1E0], s.st.ChipID[:])
	le.PutUint64(r[0x1E0:], tcb) // COMMITTED_TCB
	p := s.st.product
	r[0x1E8], r[0x1E9], r[0x1EA] = p.build, p.minor, p.major // CURRENT version
	r[0x1EC], r[0x1ED], r[0x1EE] = p.build, p.minor, p.major // COMMITTED version
	le.PutUint64(r[0x1F0:], tcb)                             // LAUNCH_TCB
	return r, nil
}

func (s *Server) policy() uint64 {
	p := s.cfg.Policy
	if p == 0 {
		p = DefaultPolicy
	}
	if s.cfg.Debug {
		p |= policyDebug
	}
	if s.cfg.MigrationAgent {
		p |= policyMigrationAgent
	}
	return p
}

func (s *Server) vmpl(requested uint32) uint32 {
	if s.cfg.ForceVMPL != nil {
		return *s.cfg.ForceVMPL
	}
	return requested
}

// tcb is the TCB every TCB field claims: the VCEK's, or one SNP and microcode
// SPL lower when misbehaving.
func (s *Server) tcb() kds.TCBVersion {
	if !s.cfg.LowerTCB {
		return s.st.TCB
	}
	parts := kds.DecomposeTCBVersion(s.st.TCB)
	parts.SnpSpl--   // products() keep every SNP SPL above zero
	parts.UcodeSpl-- // and every microcode SPL
	t, _ := kds.ComposeTCBParts(parts)
	return t
}

// sign puts the VCEK's ECDSA P-384/SHA-384 signature over bytes [0, 0x2A0) into
// the report, R and S little-endian as the ABI wants.
func (s *Server) sign(r []byte) error {
	h := sha512.Sum384(abi.SignedComponent(r))
	R, S, err := ecdsa.Sign(s.cfg.Rand, s.st.vcekKey, h[:])
	if err != nil {
		return fmt.Errorf("signing the report: %w", err)
	}
	return abi.SetSignature(R, S, r)
}
