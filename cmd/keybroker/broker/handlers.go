package broker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// auth answers step 1: it checks the protocol version and TEE and hands out a
// fresh nonce bound to a new session cookie.
func (b *Broker) auth(w http.ResponseWriter, r *http.Request) {
	a := b.begin(w, r, "auth")
	var req kbs.Request
	if err := decodeStrict(r, &req); err != nil {
		a.refuse(http.StatusUnauthorized, "SerdeError", "bad_request", "bad auth request", err)
		return
	}
	if req.Version != kbs.ProtocolVersion {
		a.refuse(http.StatusUnauthorized, "ProtocolVersion", "protocol_version",
			fmt.Sprintf("protocol version %q not supported, want %q", req.Version, kbs.ProtocolVersion), nil)
		return
	}
	if req.Tee != kbs.TeeSNP {
		a.refuse(http.StatusUnauthorized, "UnsupportedTee", "unsupported_tee", fmt.Sprintf("tee %q not supported", req.Tee), nil)
		return
	}
	id, nonce, err := b.sessions.open()
	if err != nil {
		a.refuse(http.StatusUnauthorized, "SessionError", reason(err), "cannot open session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: kbs.SessionCookie, Value: id, Path: "/kbs",
		MaxAge: int(b.cfg.NonceTTL.Seconds()), HttpOnly: true})
	a.d.Session = logID(id)
	a.send(outcomeAccepted, kbs.Challenge{Nonce: nonce, ExtraParams: json.RawMessage(`""`)})
}

// attest answers step 2: it consumes the session's nonce, checks that the
// report binds that nonce and the tee key, verifies the evidence against policy
// and, on success, returns a token.
func (b *Broker) attest(w http.ResponseWriter, r *http.Request) {
	a := b.begin(w, r, "attest")
	id := sessionID(r)
	nonce, err := b.sessions.consume(id)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "InvalidCookie", reason(err), "session refused", err)
		return
	}
	att, err := decodeAttestation(r)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "SerdeError", "bad_request", "bad attestation body", err)
		return
	}
	res, err := b.check(nonce, att)
	a.d.withEvidence(res)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "AttestationError", reason(err), "attestation refused: "+reason(err), err)
		return
	}
	key := att.RuntimeData.TeePubKey
	b.sessions.attest(id, key, res)
	tok, err := b.token(id, key, res)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "TokenError", "internal_error", "cannot issue token", err)
		return
	}
	a.send(outcomeAccepted, kbs.AttestationResponse{Token: tok})
}

// check verifies att against the session nonce, the policy and the
// measurements the store's resources allow.
func (b *Broker) check(nonce string, att *attestation) (*evidence.Result, error) {
	if att.RuntimeData.Nonce != nonce {
		return nil, fmt.Errorf("runtime-data nonce is not the session's: %w", evidence.ErrReportData)
	}
	rd, err := kbs.ReportData(nonce, att.RuntimeData.TeePubKey)
	if err != nil {
		return nil, fmt.Errorf("tee-pubkey: %w", errors.Join(evidence.ErrMalformed, err))
	}
	ev, err := att.evidence()
	if err != nil {
		return nil, fmt.Errorf("tee-evidence: %w", errors.Join(evidence.ErrMalformed, err))
	}
	idx, err := b.store.Index()
	if err != nil {
		return nil, err
	}
	return b.policy.Load().verifier.Check(ev, evidence.Options{Now: b.cfg.Now(), ReportData: &rd,
		CheckMeasurement: true, AllowedMeasurements: idx.AllMeasurements()})
}

// resource answers step 3: the secret named by the path, sealed to the tee key
// of an attested session (cookie, or the token issued to it), at most once
// per session, and only if the resource allows the session's measurement.
func (b *Broker) resource(w http.ResponseWriter, r *http.Request) {
	a := b.begin(w, r, "resource")
	name := r.PathValue("repo") + "/" + r.PathValue("type") + "/" + r.PathValue("tag")
	if err := store.ValidatePath(name); err != nil {
		a.refuse(http.StatusNotFound, "InvalidRequestPath", "invalid_path", "request path is invalid", err)
		return
	}
	a.d.Resource = name
	id, err := b.session(r)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "TokenNotFound", reason(err), "not attested", err)
		return
	}
	a.d.Session = logID(id)
	key, res, err := b.sessions.claim(id, name)
	a.d.withEvidence(res)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "TokenNotFound", reason(err), "not attested", err)
		return
	}
	jwe, err := b.release(name, key, res)
	if err != nil {
		a.refuse(http.StatusUnauthorized, "PolicyDeny", reason(err), "resource "+name+" not released", err)
		return
	}
	a.send(outcomeReleased, jwe)
}

// session returns the session id of the request: its cookie, or the session
// its bearer token was issued to.
func (b *Broker) session(r *http.Request) (string, error) {
	if tok, ok := bearer(r); ok {
		return b.verifyToken(tok)
	}
	return sessionID(r), nil
}

func decodeStrict(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeStrictBytes(body, v)
}

// decodeStrictBytes decodes the first JSON value of body into v, refusing
// unknown members.
func decodeStrictBytes(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// readBody reads the whole request body (bounded by the handler's limit).
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= maxBody {
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead free to see EOF
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sessionID(r *http.Request) string {
	c, err := r.Cookie(kbs.SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// logID names a session in logs without revealing its cookie, which is a
// bearer credential for the session's lifetime.
func logID(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}
