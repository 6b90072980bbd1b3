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

// token issues an HS256 JWT naming the attested key and measurement: a
// compact JWS whose payload is the JSON claims (what jwt.Signed builds, minus
// its re-encoding of the claims through a map).
func (b *Broker) token(id string, res *evidence.Result) (string, error) {
	key, err := b.sessions.key(id)
	if err != nil {
		return "", err
	}
	now := b.cfg.Now()
	c := claims{
		Claims: jwt.Claims{Issuer: "cvminit-keybroker", IssuedAt: jwt.NewNumericDate(now),
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

// verifyToken checks a bearer token's signature and expiry and returns its key.
func (b *Broker) verifyToken(tok string) (kbs.JWK, error) {
	t, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return kbs.JWK{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	var c claims
	if err := t.Claims(b.tokenKey, &c); err != nil {
		return kbs.JWK{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err := c.Claims.Validate(jwt.Expected{Issuer: "cvminit-keybroker", Time: b.cfg.Now()}); err != nil {
		return kbs.JWK{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	return c.TeePubKey, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return tok, ok && tok != ""
}
