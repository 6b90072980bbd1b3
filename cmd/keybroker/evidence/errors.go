package evidence

import "errors"

// Refusal reasons. Check wraps exactly one or more of these (joined with
// errors.Join when several independent policy checks fail), so callers can
// branch with errors.Is and log Reason(err).
var (
	// ErrMalformed: the report bytes are not a well-formed ATTESTATION_REPORT
	// (wrong size, reserved bits set, unknown signature algorithm).
	ErrMalformed = errors.New("malformed report")
	// ErrCertificate: the VCEK/VLEK certificate is missing, unparseable, not
	// valid at the verification time, or inconsistent with the report.
	ErrCertificate = errors.New("certificate problem")
	// ErrUntrustedRoot: the VCEK/VLEK does not chain to any trusted root.
	ErrUntrustedRoot = errors.New("certificate chain does not lead to a trusted root")
	// ErrRevoked: a loaded CRL revokes the ASK/ASVK or the VCEK/VLEK of the
	// report's chain.
	ErrRevoked = errors.New("certificate revoked")
	// ErrRevocation: the revocation status of the chain is unknown: no CRL
	// from its ARK is loaded, or the loaded ones are stale (NextUpdate passed),
	// and the policy does not set insecure_skip_revocation.
	ErrRevocation = errors.New("revocation status unknown")
	// ErrSignature: the report's signature does not verify with its
	// certificate: some signed byte was changed, or the signature itself.
	ErrSignature = errors.New("bad report signature")
	// ErrProduct: the report's product line is unknown or not the expected one.
	ErrProduct = errors.New("product mismatch")
	// ErrReportVersion: the report version is below the policy minimum.
	ErrReportVersion = errors.New("report version too old")
	// ErrVMPL: the report was requested from a VMPL other than the policy's.
	ErrVMPL = errors.New("wrong VMPL")
	// ErrDebug: the guest policy allows debugging (the host can decrypt memory).
	ErrDebug = errors.New("guest policy allows debugging")
	// ErrMigrationAgent: the guest policy allows a migration agent.
	ErrMigrationAgent = errors.New("guest policy allows a migration agent")
	// ErrSMT: the guest policy allows SMT and the policy forbids it.
	ErrSMT = errors.New("guest policy allows SMT")
	// ErrGuestPolicy: another guest POLICY requirement is not met (single
	// socket required, CXL allowed).
	ErrGuestPolicy = errors.New("guest policy not acceptable")
	// ErrTCB: a TCB is below the policy minimum, or the TCB fields are
	// inconsistent (committed != current, reported != certificate).
	ErrTCB = errors.New("TCB not acceptable")
	// ErrMeasurement: the launch measurement is not in the allow-list.
	ErrMeasurement = errors.New("measurement not allowed")
	// ErrReportData: REPORT_DATA is not the expected value.
	ErrReportData = errors.New("report data mismatch")
	// ErrHostData: HOST_DATA is not the value the policy pins.
	ErrHostData = errors.New("host data mismatch")
	// ErrIDKey: the launch ID key digest is not one the policy trusts.
	ErrIDKey = errors.New("id key not trusted")
	// ErrPolicy: go-sev-guest's validate refused the report for a reason
	// none of the more specific checks caught (a safety net).
	ErrPolicy = errors.New("report refused by validation")
)

// reasons maps every sentinel to its stable log code, in the order Reason
// reports them when several apply.
var reasons = []struct {
	err  error
	code string
}{
	{ErrMalformed, "malformed_report"},
	{ErrCertificate, "certificate_invalid"},
	{ErrUntrustedRoot, "untrusted_root"},
	{ErrRevoked, "certificate_revoked"},
	{ErrRevocation, "revocation_unknown"},
	{ErrSignature, "bad_signature"},
	{ErrProduct, "product_mismatch"},
	{ErrReportVersion, "report_version_too_old"},
	{ErrVMPL, "wrong_vmpl"},
	{ErrDebug, "debug_allowed"},
	{ErrMigrationAgent, "migration_agent_allowed"},
	{ErrSMT, "smt_allowed"},
	{ErrGuestPolicy, "guest_policy_not_acceptable"},
	{ErrTCB, "tcb_not_acceptable"},
	{ErrMeasurement, "measurement_not_allowed"},
	{ErrReportData, "report_data_mismatch"},
	{ErrHostData, "host_data_mismatch"},
	{ErrIDKey, "id_key_not_trusted"},
	{ErrPolicy, "policy_violation"},
}

// Reason returns a short, stable lower_snake code for the first refusal
// reason err carries (e.g. "measurement_not_allowed"), "" for nil and
// "internal_error" for an error that carries none of this package's sentinels.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "internal_error"
}
