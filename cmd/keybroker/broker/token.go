package broker

import (
	"encoding/hex"
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

// token issues an ES256 JWT naming the attested key and measurement.
func (b *Broker) token(id string, res *evidence.Result) (string, error) {
	key, err := b.sessions.key(id)
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: b.tokenKey}, nil)
	if err != nil {
		return "", err
	}
	now := b.cfg.Now()
	c := claims{
		Claims: jwt.Claims{Issuer: "cvminit-keybroker", IssuedAt: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(b.cfg.AttestedTTL))},
		TeePubKey: key, Measurement: hex.EncodeToString(res.Measurement),
	}
	return jwt.Signed(sig).Claims(c).Serialize()
}

// verifyToken checks a bearer token's signature and expiry and returns its key.
func (b *Broker) verifyToken(tok string) (kbs.JWK, error) {
	t, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return kbs.JWK{}, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	var c claims
	if err := t.Claims(&b.tokenKey.PublicKey, &c); err != nil {
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
