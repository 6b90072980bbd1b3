package broker

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// Decision is one line of the audit log: every answer the broker gives to
// /auth, /attest and /resource, accepted or refused. It names the evidence
// the decision rested on and never carries a secret, nonce, cookie or token.
type Decision struct {
	Time        time.Time     `json:"time"`
	Client      string        `json:"client"`            // remote IP address
	Event       string        `json:"event"`             // auth, attest or resource
	Outcome     string        `json:"outcome"`           // accepted, released or refused
	Reason      string        `json:"reason,omitempty"`  // stable lower_snake code when refused
	Status      int           `json:"status"`            // HTTP status sent
	Session     string        `json:"session,omitempty"` // logID of the session cookie
	Resource    string        `json:"resource,omitempty"`
	Measurement string        `json:"measurement,omitempty"`
	ChipID      string        `json:"chip_id,omitempty"`
	ReportedTCB *evidence.TCB `json:"reported_tcb,omitempty"`
	Product     string        `json:"product,omitempty"`
	Signer      string        `json:"signer,omitempty"`
	NonAMDRoot  bool          `json:"non_amd_root,omitempty"`
}

// Outcomes of a Decision.
const (
	outcomeAccepted = "accepted"
	outcomeReleased = "released"
	outcomeRefused  = "refused"
)

// withEvidence copies what an authentic report showed into d.
func (d *Decision) withEvidence(res *evidence.Result) {
	if res == nil {
		return
	}
	tcb := res.ReportedTCB
	d.Measurement, d.ChipID, d.ReportedTCB = res.Measurement.String(), res.ChipID.String(), &tcb
	d.Product, d.Signer, d.NonAMDRoot = res.Product, res.Signer, res.NonAMDRoot
}

// auditLog writes Decisions as JSON lines, one Write per line so concurrent
// requests never interleave.
type auditLog struct {
	mu sync.Mutex
	w  io.Writer
}

// record writes d. An error means the decision is not on record: callers
// must then not release anything.
func (a *auditLog) record(d *Decision) error {
	if a.w == nil {
		return nil
	}
	line, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.w.Write(line); err != nil {
		return fmt.Errorf("writing audit record: %w", err)
	}
	return nil
}
