package agent

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/cvminit/cvminit/agent/snp"
)

// Offsets into ATTESTATION_REPORT (SEV-SNP ABI, table "ATTESTATION_REPORT
// Structure"; REFERENCE.md §2), little-endian.
const (
	reportOffVersion     = 0x00
	reportOffPolicy      = 0x08
	reportOffVMPL        = 0x30
	reportOffMeasurement = 0x90
	reportEndMeasurement = 0xC0
)

// configfsMount is where configfs-tsm lives; mounted on demand because the
// configfs module may only be loaded by the modules step.
func configfsMount() Mount {
	return Mount{Source: "configfs", Target: "/sys/kernel/config", FSType: "configfs",
		Flags: MountNoSuid | MountNoDev | MountNoExec}
}

// stepAttest opens the configured SNP report provider and asks it for one
// probe report with all-zero REPORT_DATA. The probe binds nothing (so it is
// useless to anyone who captures it) but proves the provider works and
// lets the guest refuse to go on if its own policy allows debugging
// (SECURITY.md H7) before any request goes to the broker (the network
// step may have opened the TLS connection, which carries nothing yet).
func stepAttest(ctx context.Context, s *State) error {
	a := s.Config.Attestation
	if a.Provider == snp.NameAuto || a.Provider == snp.NameConfigfs {
		if err := s.sys.Mounter.Mount(configfsMount()); err != nil {
			s.log.Debug("configfs not mounted", "err", err)
		}
	}
	p, err := s.sys.Attest.Open(a.Provider, snp.Options{Port: a.EmulatorPort})
	if err != nil {
		return fmt.Errorf("%w: opening provider %s: %w", ErrAttestation, a.Provider, err)
	}
	var probe [64]byte
	ev, err := p.GetReport(ctx, probe)
	if err != nil {
		return fmt.Errorf("%w: probe report: %w", ErrAttestation, err)
	}
	if err := snp.CheckOwn(ev.Report, probe); err != nil {
		return fmt.Errorf("%w: probe report: %w", ErrAttestation, err)
	}
	s.Provider = p
	logReport(s, providerName(p, a.Provider), ev.Report)
	return nil
}

// logReport logs the public facts an operator matches against policy; the
// full report is logged only at debug level, as its length.
func logReport(s *State, provider string, r []byte) {
	s.log.Info("SNP report obtained", "provider", provider,
		"version", binary.LittleEndian.Uint32(r[reportOffVersion:]),
		"policy", fmt.Sprintf("%#x", binary.LittleEndian.Uint64(r[reportOffPolicy:])),
		"vmpl", binary.LittleEndian.Uint32(r[reportOffVMPL:]),
		"measurement", hex.EncodeToString(r[reportOffMeasurement:reportEndMeasurement]))
	s.log.Debug("SNP report", "report", r)
}

// providerName is the provider's own name (auto resolves to a concrete one)
// or the configured name.
func providerName(p snp.Provider, configured string) string {
	if s, ok := p.(fmt.Stringer); ok {
		return s.String()
	}
	return configured
}
