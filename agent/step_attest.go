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

// configfsMount is where configfs-tsm lives (Linux >= 6.7); mounted on
// demand, only for the providers that may use it, because configfs may be
// a module (Debian 6.1's is, and has no configfs-tsm): mounting it before
// the modules step would only make the kernel ask for the module.
func configfsMount() Mount {
	return Mount{Source: "configfs", Target: "/sys/kernel/config", FSType: "configfs",
		Flags: MountNoSuid | MountNoDev | MountNoExec}
}

// stepAttest takes the outcome of the probe the network step started
// (startProbe; started here when it was not): the configured SNP report
// provider, opened, gave one report with all-zero REPORT_DATA. The
// probe binds nothing (so it is useless to anyone who captures it) but
// proves the provider works and lets the guest refuse to go on if its own
// policy allows debugging (SECURITY.md H7) before any request goes to the
// broker (the network step may have opened the TLS connection, which
// carries nothing yet).
func stepAttest(ctx context.Context, s *State) error {
	if s.probe == nil {
		startProbe(ctx, s)
	}
	r, ok := await(ctx, &s.probe)
	if !ok {
		return fmt.Errorf("waiting for the probe report: %w", ctx.Err())
	}
	if r.err != nil {
		return r.err
	}
	s.Provider = r.provider
	logReport(s, providerName(r.provider, s.Config.Attestation.Provider), r.report)
	return nil
}

// probeResult is a provider that passed the probe and its report, or why
// there is none.
type probeResult struct {
	provider snp.Provider
	report   []byte
	err      error
}

// startProbe probes the provider in the background (the network step
// starts it: the report comes from the security processor, or the host's
// emulator, while the interface is configured); the attest step takes the
// outcome.
func startProbe(ctx context.Context, s *State) {
	s.probe = background(ctx, func(bg context.Context) probeResult { return probe(bg, s) })
}

// probe opens the configured provider and checks one report from it.
func probe(ctx context.Context, s *State) probeResult {
	a := s.Config.Attestation
	if a.Provider == snp.NameAuto || a.Provider == snp.NameConfigfs {
		if err := s.sys.Mounter.Mount(configfsMount()); err != nil {
			s.log.Debug("configfs not mounted", "err", err)
		}
	}
	p, err := s.sys.Attest.Open(a.Provider, snp.Options{Port: a.EmulatorPort})
	if err != nil {
		return probeResult{err: fmt.Errorf("%w: opening provider %s: %w", ErrAttestation, a.Provider, err)}
	}
	var zero [64]byte
	ev, err := p.GetReport(ctx, zero)
	if err == nil {
		err = snp.CheckOwn(ev.Report, zero)
	}
	if err != nil {
		return probeResult{err: fmt.Errorf("%w: probe report: %w", ErrAttestation, err)}
	}
	return probeResult{provider: p, report: ev.Report}
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
