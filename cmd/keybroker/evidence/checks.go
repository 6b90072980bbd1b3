package evidence

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
)

// check applies the policy to an authentic report: first this package's
// checks (one sentinel per reason, all failures joined), then go-sev-guest's
// validate with every option the policy implies, as a second gate.
func (c *compiled) check(a *authentic, o Options) error {
	r := a.att.Report
	if err := errors.Join(
		c.checkVersion(r),
		c.checkVMPL(r),
		c.checkGuestPolicy(r),
		c.checkTCB(r, a.line),
		c.checkMeasurement(r, o),
		c.checkReportData(r, o),
		c.checkHostData(r),
		c.checkIDKey(r),
	); err != nil {
		return err
	}
	if err := validate.SnpAttestation(a.att, c.validateOptions(a, o)); err != nil {
		return fmt.Errorf("%w: go-sev-guest validate: %w", ErrPolicy, err)
	}
	return nil
}

func (c *compiled) checkVersion(r *spb.Report) error {
	if r.GetVersion() < c.minVersion {
		return fmt.Errorf("%w: report version %d, policy minimum %d", ErrReportVersion, r.GetVersion(), c.minVersion)
	}
	return nil
}

func (c *compiled) checkVMPL(r *spb.Report) error {
	if r.GetVmpl() != uint32(c.vmpl) {
		return fmt.Errorf("%w: report is from VMPL %d, policy requires VMPL %d", ErrVMPL, r.GetVmpl(), c.vmpl)
	}
	return nil
}

func (c *compiled) checkGuestPolicy(r *spb.Report) error {
	gp, err := abi.ParseSnpPolicy(r.GetPolicy())
	if err != nil { // unreachable: ReportToProto parsed it already
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var errs []error
	if gp.Debug && !c.p.InsecureAllowDebug {
		errs = append(errs, fmt.Errorf("%w (POLICY 0x%x)", ErrDebug, r.GetPolicy()))
	}
	if gp.MigrateMA && !c.p.InsecureAllowMigrationAgent {
		errs = append(errs, fmt.Errorf("%w (POLICY 0x%x)", ErrMigrationAgent, r.GetPolicy()))
	}
	if gp.SMT && !c.p.AllowSMT {
		errs = append(errs, fmt.Errorf("%w (POLICY 0x%x)", ErrSMT, r.GetPolicy()))
	}
	if c.p.RequireSingleSocket && !gp.SingleSocket {
		errs = append(errs, fmt.Errorf("%w: single socket required (POLICY 0x%x)", ErrGuestPolicy, r.GetPolicy()))
	}
	if gp.CXLAllowed {
		errs = append(errs, fmt.Errorf("%w: CXL allowed (POLICY 0x%x)", ErrGuestPolicy, r.GetPolicy()))
	}
	return errors.Join(errs...)
}

func (c *compiled) checkTCB(r *spb.Report, line string) error {
	min := tcbBytes(c.p.MinTCB, line)
	tcb := func(v uint64) string { return decodeTCB(v, line).String() }
	var errs []error
	for _, f := range []struct {
		name string
		v    uint64
	}{{"REPORTED_TCB", r.GetReportedTcb()}, {"LAUNCH_TCB", r.GetLaunchTcb()}} {
		if !tcbAtLeast(f.v, min) {
			errs = append(errs, fmt.Errorf("%w: %s %s is below the minimum %s", ErrTCB, f.name, tcb(f.v), tcb(min)))
		}
	}
	if !tcbAtLeast(r.GetCurrentTcb(), r.GetReportedTcb()) {
		errs = append(errs, fmt.Errorf("%w: REPORTED_TCB %s is above CURRENT_TCB %s", ErrTCB, tcb(r.GetReportedTcb()), tcb(r.GetCurrentTcb())))
	}
	return errors.Join(append(errs, c.checkCommitted(r, tcb))...)
}

// checkCommitted requires committed firmware == current firmware, or <= when
// provisional firmware is permitted.
func (c *compiled) checkCommitted(r *spb.Report, tcb func(uint64) string) error {
	committed := []uint32{r.GetCommittedMajor(), r.GetCommittedMinor(), r.GetCommittedBuild()}
	current := []uint32{r.GetCurrentMajor(), r.GetCurrentMinor(), r.GetCurrentBuild()}
	fwCmp := compareVersions(committed, current)
	if c.p.PermitProvisionalFirmware {
		if !tcbAtLeast(r.GetCurrentTcb(), r.GetCommittedTcb()) || fwCmp > 0 {
			return fmt.Errorf("%w: committed firmware %v / TCB %s is above current %v / %s", ErrTCB,
				committed, tcb(r.GetCommittedTcb()), current, tcb(r.GetCurrentTcb()))
		}
		return nil
	}
	if r.GetCommittedTcb() != r.GetCurrentTcb() || fwCmp != 0 {
		return fmt.Errorf("%w: provisional firmware: committed %v / TCB %s, current %v / %s", ErrTCB,
			committed, tcb(r.GetCommittedTcb()), current, tcb(r.GetCurrentTcb()))
	}
	return nil
}

// compareVersions compares major, minor, build triples.
func compareVersions(a, b []uint32) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (c *compiled) measurementChecked(o Options) bool {
	return len(c.measurements) > 0 || len(o.AllowedMeasurements) > 0 || o.CheckMeasurement
}

func (c *compiled) checkMeasurement(r *spb.Report, o Options) error {
	if c.measurementChecked(o) && c.allowedMeasurement(r.GetMeasurement(), o) == nil {
		return fmt.Errorf("%w: %x", ErrMeasurement, r.GetMeasurement())
	}
	return nil
}

func (c *compiled) checkReportData(r *spb.Report, o Options) error {
	if o.ReportData != nil && !bytes.Equal(o.ReportData[:], r.GetReportData()) {
		return fmt.Errorf("%w: REPORT_DATA %x, want %x", ErrReportData, r.GetReportData(), o.ReportData[:])
	}
	return nil
}

func (c *compiled) checkHostData(r *spb.Report) error {
	if c.hostData != nil && !bytes.Equal(c.hostData, r.GetHostData()) {
		return fmt.Errorf("%w: HOST_DATA %x, want %x", ErrHostData, r.GetHostData(), c.hostData)
	}
	return nil
}

func (c *compiled) checkIDKey(r *spb.Report) error {
	if len(c.idKeys) == 0 {
		return nil
	}
	for _, k := range c.idKeys {
		if bytes.Equal(k, r.GetIdKeyDigest()) {
			return nil
		}
	}
	return fmt.Errorf("%w: ID_KEY_DIGEST %x", ErrIDKey, r.GetIdKeyDigest())
}

// validateOptions sets every go-sev-guest validate option the policy needs
// (validate leaves nil fields unchecked).
func (c *compiled) validateOptions(a *authentic, o Options) *validate.Options {
	min := kds.DecomposeTCBVersion(kds.TCBVersion(tcbBytes(c.p.MinTCB, a.line)))
	vmpl := c.vmpl
	opts := &validate.Options{
		GuestPolicy: abi.SnpPolicy{
			SMT:          c.p.AllowSMT,
			MigrateMA:    c.p.InsecureAllowMigrationAgent,
			Debug:        c.p.InsecureAllowDebug,
			SingleSocket: c.p.RequireSingleSocket,
		},
		MinimumTCB:                min,
		MinimumLaunchTCB:          min,
		PermitProvisionalFirmware: c.p.PermitProvisionalFirmware,
		VMPL:                      &vmpl,
		HostData:                  c.hostData,
		RequireIDBlock:            len(c.idKeys) > 0,
		TrustedIDKeyHashes:        append([][]byte(nil), c.idKeys...),
	}
	if c.measurementChecked(o) {
		// validate takes one value: the matching entry of either list, else
		// any entry (which then refuses, as it must; with none, this
		// package's own check refuses).
		opts.Measurement = c.allowedMeasurement(a.att.Report.GetMeasurement(), o)
		if opts.Measurement == nil {
			opts.Measurement = firstOf(c.measurements, o.AllowedMeasurements)
		}
	}
	if o.ReportData != nil {
		opts.ReportData = o.ReportData[:]
	}
	return opts
}

// firstOf returns the first entry of the first non-empty list, or nil.
func firstOf(lists ...[][]byte) []byte {
	for _, l := range lists {
		if len(l) > 0 {
			return l[0]
		}
	}
	return nil
}
