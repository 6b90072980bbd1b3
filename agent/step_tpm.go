package agent

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/agent/tpm"
)

// selfExe is the running cvminit executable, measured as the binary.
const selfExe = "/proc/self/exe"

// stepTPM opens the TPM as tpm.mode says, creates the event log
// (tpm.LogPath, mode 0600, directories 0755) and measures the first
// events of the scheme: the cvminit binary, the config bytes the config
// step read, enter-initrd and the kernel command line (enterEvents). Later
// steps add theirs through State.measure; switchroot closes the TPM.
//
// With tpm.mode off nothing is measured; with auto and no TPM
// (tpm.ErrNoTPM) the step ends ok with nothing measured. Any other TPM
// error, and no TPM under required, is ErrTPM (TPM_FAILED).
func stepTPM(_ context.Context, s *State) error {
	mode := s.Config.TPM.Mode
	if mode == config.TPMOff {
		s.TPMStatus = klog.TPMOff
		s.log.Info("tpm.mode off: nothing measured", "tpm", klog.TPMOff)
		return nil
	}
	dev, err := s.sys.TPM.Open()
	if errors.Is(err, tpm.ErrNoTPM) && mode == config.TPMAuto {
		s.TPMStatus = klog.TPMAbsent
		s.log.Info("no TPM: nothing measured", "tpm", klog.TPMAbsent)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: opening the TPM (tpm.mode %s): %w", ErrTPM, mode, err)
	}
	if err := startTPM(s, dev); err != nil {
		return err
	}
	exe, err := s.sys.Files.ReadFile(selfExe)
	if err != nil {
		return fmt.Errorf("%w: reading the cvminit binary: %w", ErrTPM, err)
	}
	cmdline, err := s.sys.Files.ReadFile(s.opts.CmdlinePath)
	if err != nil {
		return fmt.Errorf("%w: reading the kernel command line: %w", ErrTPM, err)
	}
	for _, e := range enterEvents(exe, s.ConfigJSON, string(cmdline)) {
		if err := s.measure(e); err != nil {
			return err
		}
	}
	s.TPMStatus = klog.TPMMeasured
	return nil
}

// startTPM creates the event log and keeps it with dev in State; on
// failure it closes dev.
func startTPM(s *State, dev tpm.Device) error {
	dir := path.Dir(tpm.LogPath)
	err := s.sys.Mounter.MkdirAll(dir, 0o755)
	if err != nil {
		_ = dev.Close()
		return fmt.Errorf("%w: creating %s: %w", ErrTPM, dir, err)
	}
	log, err := s.sys.Appender.OpenAppend(tpm.LogPath, 0o600)
	if err != nil {
		_ = dev.Close()
		return fmt.Errorf("%w: creating the event log: %w", ErrTPM, err)
	}
	if !s.tpm.start(dev, log) {
		return fmt.Errorf("%w: the boot already failed", ErrTPM)
	}
	return nil
}
