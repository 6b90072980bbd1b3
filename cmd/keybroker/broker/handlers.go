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
)

// auth answers step 1: it checks the protocol version and TEE and hands out a
// fresh nonce bound to a new session cookie.
func (b *Broker) auth(w http.ResponseWriter, r *http.Request) {
	var req kbs.Request
	if err := decodeStrict(r, &req); err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "SerdeError", "bad auth request", err)
		return
	}
	if req.Version != kbs.ProtocolVersion {
		b.refuse(w, r, http.StatusUnauthorized, "ProtocolVersion",
			fmt.Sprintf("protocol version %q not supported, want %q", req.Version, kbs.ProtocolVersion), nil)
		return
	}
	if req.Tee != kbs.TeeSNP {
		b.refuse(w, r, http.StatusUnauthorized, "UnsupportedTee", fmt.Sprintf("tee %q not supported", req.Tee), nil)
		return
	}
	id, nonce, err := b.sessions.open()
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "SessionError", "cannot open session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: kbs.SessionCookie, Value: id, Path: "/kbs",
		MaxAge: int(b.cfg.NonceTTL.Seconds()), HttpOnly: true})
	writeJSON(w, kbs.Challenge{Nonce: nonce, ExtraParams: json.RawMessage(`""`)})
}

// attest answers step 2: it consumes the session's nonce, checks that the
// report binds that nonce and the tee key, verifies the evidence against policy
// and, on success, returns a token.
func (b *Broker) attest(w http.ResponseWriter, r *http.Request) {
	id := sessionID(r)
	nonce, err := b.sessions.consume(id)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "InvalidCookie", "session refused", err)
		return
	}
	att, err := decodeAttestation(r)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "SerdeError", "bad attestation body", err)
		return
	}
	res, err := b.check(nonce, att)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "AttestationError", "attestation refused: "+evidence.Reason(err), err)
		return
	}
	b.sessions.attest(id, att.RuntimeData.TeePubKey)
	tok, err := b.token(id, res)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "TokenError", "cannot issue token", err)
		return
	}
	b.log.Info("attestation accepted", "session", logID(id), "measurement", hex.EncodeToString(res.Measurement),
		"signer", res.Signer, "product", res.Product)
	writeJSON(w, kbs.AttestationResponse{Token: tok})
}

// check verifies att against the session nonce and the policy.
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
	return b.verifier.Check(ev, evidence.Options{Now: b.cfg.Now(), ReportData: &rd,
		Product: b.cfg.Product, CheckMeasurement: true})
}

// resource answers step 3: the secret named by the path, sealed to the tee key
// of an attested session (cookie) or token (Authorization: Bearer).
func (b *Broker) resource(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("repo") + "/" + r.PathValue("type") + "/" + r.PathValue("tag")
	if err := ValidateResourcePath(name); err != nil {
		b.refuse(w, r, http.StatusNotFound, "InvalidRequestPath", "request path is invalid", err)
		return
	}
	key, err := b.teeKey(r)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "TokenNotFound", "not attested", err)
		return
	}
	jwe, err := b.store.seal(name, key)
	if err != nil {
		b.refuse(w, r, http.StatusUnauthorized, "PolicyDeny", "resource "+name+" not released", err)
		return
	}
	b.log.Info("resource released", "resource", name, "session", logID(sessionID(r)))
	writeJSON(w, jwe)
}

func (b *Broker) teeKey(r *http.Request) (kbs.JWK, error) {
	if tok, ok := bearer(r); ok {
		return b.verifyToken(tok)
	}
	return b.sessions.key(sessionID(r))
}

// refuse writes a Trustee error body and logs the reason with its cause.
func (b *Broker) refuse(w http.ResponseWriter, r *http.Request, status int, variant, detail string, cause error) {
	b.log.Warn("request refused", "path", r.URL.Path, "status", status, "type", variant,
		"reason", detail, "err", cause)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(kbs.ErrorInfo{Type: kbs.ErrorType(variant), Detail: detail})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
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
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:6])
}
