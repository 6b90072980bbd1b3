package kbs

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/cvminit/cvminit/agent/secret"
)

const (
	maxBody     = 1 << 20 // bound on any broker response
	maxNonceLen = 1024
	maxDetail   = 200 // characters of a broker's error detail kept
)

// transientError marks a failure worth another attempt.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// StatusError is a non-200 answer from the broker. It unwraps to ErrRefused
// (401, 403, 404), ErrProtocol (other 4xx) or nothing (5xx, retried).
type StatusError struct {
	Step   string    // "auth", "attest" or "resource"
	Status int       // HTTP status code
	Info   ErrorInfo // the broker's error body, sanitised; may be empty
	kind   error
}

func (e *StatusError) Error() string {
	variant := strings.TrimPrefix(e.Info.Type, errorTypePrefix)
	return fmt.Sprintf("%s: HTTP %d %s: %s", e.Step, e.Status, variant, e.Info.Detail)
}

// Unwrap returns the sentinel the status maps to.
func (e *StatusError) Unwrap() error { return e.kind }

// session runs one auth/attest/resource exchange.
func (c *Client) session(ctx context.Context, r Reporter, path string) (*secret.Buffer, error) {
	nonce, cookie, err := c.auth(ctx)
	if err != nil {
		return nil, err
	}
	priv, jwk, err := NewEphemeralKey()
	if err != nil {
		return nil, err
	}
	evidence, err := c.evidence(ctx, r, nonce, jwk)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(Attestation{
		RuntimeData: RuntimeData{Nonce: nonce, TeePubKey: jwk},
		TeeEvidence: evidence,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding attestation: %w", err)
	}
	if _, err := c.do(ctx, "attest", http.MethodPost, PathAttest, body, cookie); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, "resource", http.MethodGet, PathResource+path, nil, cookie)
	if err != nil {
		return nil, err
	}
	var j JWE
	if err := json.Unmarshal(resp.body, &j); err != nil {
		return nil, fmt.Errorf("%w: resource: %w", ErrProtocol, err)
	}
	buf, err := Open(priv, &j)
	if err != nil {
		return nil, fmt.Errorf("%w: resource: %w", ErrProtocol, err)
	}
	return buf, nil
}

// auth opens a session and returns its nonce and cookie.
func (c *Client) auth(ctx context.Context) (string, *http.Cookie, error) {
	body, _ := json.Marshal(Request{Version: ProtocolVersion, Tee: TeeSNP, ExtraParams: json.RawMessage(`""`)})
	resp, err := c.do(ctx, "auth", http.MethodPost, PathAuth, body, nil)
	if err != nil {
		return "", nil, err
	}
	var ch Challenge
	if err := json.Unmarshal(resp.body, &ch); err != nil {
		return "", nil, fmt.Errorf("%w: auth: %w", ErrProtocol, err)
	}
	if ch.Nonce == "" || len(ch.Nonce) > maxNonceLen {
		return "", nil, fmt.Errorf("%w: auth: nonce of %d bytes", ErrProtocol, len(ch.Nonce))
	}
	for _, ck := range resp.cookies {
		if ck.Name == SessionCookie && ck.Value != "" {
			return ch.Nonce, &http.Cookie{Name: SessionCookie, Value: ck.Value}, nil
		}
	}
	return "", nil, fmt.Errorf("%w: auth: no %s cookie", ErrProtocol, SessionCookie)
}

// evidence obtains a report binding nonce and jwk and wraps it as
// composite evidence.
func (c *Client) evidence(ctx context.Context, r Reporter, nonce string, jwk JWK) (json.RawMessage, error) {
	rd, err := ReportData(nonce, jwk)
	if err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrProtocol, err)
	}
	report, table, err := r.GetEvidence(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("getting SNP report: %w", err)
	}
	if len(report) != snpReportSize || subtle.ConstantTimeCompare(report[offReportData:offReportData+64], rd[:]) != 1 {
		return nil, errors.New("SNP report does not carry the requested REPORT_DATA")
	}
	certs, err := ParseCertTable(table)
	if err != nil {
		c.log.Warn("ignoring the host's certificate table", "err", err)
		certs = nil
	}
	primary, err := EncodeSNPEvidence(report, certs)
	if err != nil {
		return nil, err
	}
	return json.Marshal(CompositeEvidence{PrimaryEvidence: primary, AdditionalEvidence: ""})
}

// response is a successful HTTP answer.
type response struct {
	body    []byte
	cookies []*http.Cookie
}

// do performs one request and classifies its outcome.
func (c *Client) do(ctx context.Context, step, method, path string, body []byte, cookie *http.Cookie) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", step, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	c.log.Debug("kbs request", "step", step)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrProtocol) { // a refused redirect
			return nil, fmt.Errorf("%s: %w", step, err)
		}
		return nil, &transientError{fmt.Errorf("%s: %w", step, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &transientError{fmt.Errorf("%s: reading response: %w", step, err)}
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%w: %s: response larger than %d bytes", ErrProtocol, step, maxBody)
	}
	if resp.StatusCode == http.StatusOK {
		return &response{body: data, cookies: resp.Cookies()}, nil
	}
	return nil, statusError(step, resp.StatusCode, data)
}

// statusError classifies a non-200 answer.
func statusError(step string, status int, body []byte) error {
	e := &StatusError{Step: step, Status: status}
	var info ErrorInfo
	if json.Unmarshal(body, &info) == nil {
		e.Info = ErrorInfo{Type: sanitize(info.Type), Detail: sanitize(info.Detail)}
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		e.kind = ErrRefused
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		return &transientError{e}
	default:
		e.kind = ErrProtocol
	}
	return e
}

// sanitize keeps a short, printable version of a broker-supplied string,
// which may end up on the serial console.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
	if r := []rune(s); len(r) > maxDetail {
		s = string(r[:maxDetail]) + "..."
	}
	return s
}
