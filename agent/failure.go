package agent

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/agent/snp"
)

// fail is the one failure policy: wipe secrets, close the TPM, print one
// FAIL status line (unless the OK line was already printed), flush,
// optionally offer the debug shell, wait the configured delay, power off
// or reboot.
func (r *runner) fail(st Step, err error) error {
	r.state.WipeSecrets()
	if cerr := r.state.closeTPM(); cerr != nil {
		r.log.Debug("closing the TPM", "err", cerr)
	}
	code := classify(err, st.Fail)
	r.log.Error("boot failed", "step", st.Name, "code", string(code), "err", err)
	if !r.state.out.print(klog.Status{Code: code, Step: st.Name, Hint: hint(code, err)}) {
		r.log.Error("failure after the OK status line; powering off", "step", st.Name)
	}
	r.flush()
	r.debugShell()
	policy, delay := r.failurePolicy()
	if delay > 0 {
		_ = r.clock.Sleep(context.Background(), delay)
	}
	be := &BootError{Code: code, Step: st.Name, Err: err}
	if perr := r.powerDown(policy); perr != nil {
		r.log.Error("power off failed", "err", perr)
		r.flush()
		return errors.Join(be, perr)
	}
	return be
}

// failurePolicy returns on_failure and failure_delay, defaults before the
// config is known.
func (r *runner) failurePolicy() (string, time.Duration) {
	if r.cfg == nil {
		return config.DefaultOnFailure, 0
	}
	return r.cfg.Boot.OnFailure, r.cfg.Boot.FailureDelay.D()
}

func (r *runner) powerDown(policy string) error {
	if policy == "reboot" {
		return r.opts.Sys.Power.Reboot()
	}
	return r.opts.Sys.Power.PowerOff()
}

// debugShell runs the debug shell hook, only in a debug image whose config
// asks for it, and only after the failure was reported.
func (r *runner) debugShell() {
	sh := r.opts.Sys.DebugShell
	if sh == nil || r.cfg == nil || !r.cfg.Debug || !r.cfg.Boot.DebugShellAfterFailure {
		return
	}
	r.log.Warn("debug image: starting the debug shell after the failure")
	if err := sh(context.Background()); err != nil {
		r.log.Warn("debug shell", "err", err)
	}
}

// classify maps a step error to its failure code: known outcomes first,
// then the deadline, then the step's own code.
func classify(err error, fallback klog.Code) klog.Code {
	known := []struct {
		target error
		code   klog.Code
	}{
		{ErrPanic, klog.CodeInternal},
		{ErrModules, klog.CodeModulesFailed},
		{ErrTPM, klog.CodeTPMFailed},
		{snp.ErrDebugPolicy, klog.CodeAttestDebugPolicy},
		{ErrAttestation, klog.CodeAttestUnavailable},
		{kbs.ErrRefused, klog.CodeKeyRefused},
		{kbs.ErrUnreachable, klog.CodeBrokerUnreachable},
		{kbs.ErrProtocol, klog.CodeBrokerProtocol},
		{ErrKeyInvalid, klog.CodeBrokerProtocol},
		{config.ErrInvalid, klog.CodeConfigInvalid},
		{ErrRootNotFound, klog.CodeDiskNotFound},
		{ErrRootAmbiguous, klog.CodeDiskNotFound},
		{ErrHeaderRejected, klog.CodeHeaderRejected},
		{ErrIdentityMismatch, klog.CodeDiskIdentityMismatch},
		{ErrIntegrity, klog.CodeIntegrityFailed},
	}
	for _, k := range known {
		if errors.Is(err, k.target) {
			return k.code
		}
	}
	if deadlineHit(err) {
		return klog.CodeDeadlineExceeded
	}
	return fallback
}

// hint is the code's meaning followed by the most specific detail known:
// the broker's own explanation when it gave one, else the error text.
// Neither carries key material: errors never include it and the broker's
// detail is sanitised by kbs.
func hint(code klog.Code, err error) string {
	info, _ := code.Info()
	detail := err.Error()
	var se *stepError
	if errors.As(err, &se) {
		detail = se.err.Error()
	}
	var ke *kbs.StatusError
	if errors.As(err, &ke) && strings.TrimSpace(ke.Info.Detail) != "" {
		detail = ke.Info.Detail
	}
	return info.Meaning + ": " + detail
}
