package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// answer is one request on its way to a response: every path through a
// handler ends in exactly one refuse or send, which writes the response and
// puts the decision in the audit log, the metrics and the service log.
type answer struct {
	b     *Broker
	w     http.ResponseWriter
	start time.Time
	d     Decision
}

func (b *Broker) begin(w http.ResponseWriter, r *http.Request, event string) *answer {
	return &answer{b: b, w: w, start: time.Now(), d: Decision{
		Time: b.cfg.Now().UTC(), Client: clientIP(r.RemoteAddr), Event: event, Session: logID(sessionID(r)),
	}}
}

// refuse writes a Trustee error body and records the refusal with its
// reason code; cause goes to the service log only.
func (a *answer) refuse(status int, variant, reason, detail string, cause error) {
	a.d.Outcome, a.d.Reason, a.d.Status = outcomeRefused, reason, status
	if err := a.b.audit.record(&a.d); err != nil {
		a.b.log.Error("audit log", "err", err)
	}
	a.b.metrics.observe(&a.d, a.start)
	a.b.log.Warn("request refused", "event", a.d.Event, "client", a.d.Client, "session", a.d.Session,
		"resource", a.d.Resource, "status", status, "reason", reason, "err", cause)
	writeError(a.w, status, variant, detail)
}

// send records the decision and then writes body. If the decision cannot be
// recorded, nothing is sent: a release that is not on record never happens.
func (a *answer) send(outcome string, body any) {
	a.d.Outcome, a.d.Status = outcome, http.StatusOK
	if err := a.b.audit.record(&a.d); err != nil {
		a.d.Outcome, a.d.Reason, a.d.Status = outcomeRefused, "audit_failed", http.StatusInternalServerError
		a.b.metrics.observe(&a.d, a.start)
		a.b.log.Error("audit log unwritable; refusing", "event", a.d.Event, "err", err)
		writeError(a.w, http.StatusInternalServerError, "AuditError", "decision could not be recorded")
		return
	}
	a.b.metrics.observe(&a.d, a.start)
	level := slog.LevelDebug // the audit log has it; one write less per answer
	if outcome == outcomeReleased {
		level = slog.LevelInfo
	}
	a.b.log.Log(context.Background(), level, a.d.Event+" "+outcome, "client", a.d.Client, "session", a.d.Session, "resource", a.d.Resource,
		"measurement", a.d.Measurement, "product", a.d.Product, "signer", a.d.Signer)
	writeJSON(a.w, body)
}

func writeError(w http.ResponseWriter, status int, variant, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(kbs.ErrorInfo{Type: kbs.ErrorType(variant), Detail: detail})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// reason returns the stable code of a refusal cause.
func reason(err error) string {
	for _, r := range []struct {
		err  error
		code string
	}{
		{ErrNoSession, "no_session"}, {ErrSessionExpired, "session_expired"}, {ErrNonceUsed, "nonce_used"},
		{ErrNotAttested, "not_attested"}, {ErrTooManyOpen, "too_many_sessions"}, {ErrReleased, "already_released"},
		{ErrBadToken, "bad_token"}, {ErrUnknownResource, "unknown_resource"},
		{ErrResourceMeasurement, "measurement_not_allowed_for_resource"},
	} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return evidence.Reason(err)
}
