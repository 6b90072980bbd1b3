package broker

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrBadToken is returned for a bearer token this broker did not issue or that expired.
var ErrBadToken = errors.New("bad attestation token")

// claims is the body of the attestation token: who attested, with which key.
type claims struct {
	jwt.Claims
	TeePubKey   kbs.JWK `json:"tee-pubkey"`
	Measurement string  `json:"measurement"`
}

// newTokenSigner returns a fresh random HMAC key and its HS256 signer.
// Tokens are bearer credentials for this broker's own resource endpoint and
// nobody else verifies them, so a symmetric key serves, at a fraction of the
// cost of a signature; it never leaves the process.
func newTokenSigner() ([]byte, jose.Signer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, fmt.Errorf("token key: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("token signer: %w", err)
	}
	return key, signer, nil
}

// token issues an HS256 JWT naming the session (jti), the attested key and
// the measurement: a compact JWS whose payload is the JSON claims (what
// jwt.Signed builds, minus its re-encoding of the claims through a map). The
// token is as good as the session cookie and no better: resources fetched
// with it count against the same session's at-most-once releases.
func (b *Broker) token(id string, key kbs.JWK, res *evidence.Result) (string, error) {
	now := b.cfg.Now()
	c := claims{
		Claims: jwt.Claims{Issuer: "cvminit-keybroker", ID: id, IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(b.cfg.AttestedTTL))},
		TeePubKey: key, Measurement: hex.EncodeToString(res.Measurement),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	obj, err := b.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// verifyToken checks a bearer token's signature and expiry and returns the
// session it was issued to.
func (b *Broker) verifyToken(tok string) (string, error) {
	t, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	var c claims
	if err := t.Claims(b.tokenKey, &c); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: "cvminit-keybroker", Time: b.cfg.Now()}, 0); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if c.ID == "" {
		return "", fmt.Errorf("%w: no session", ErrBadToken)
	}
	return c.ID, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return tok, ok && tok != ""
}
