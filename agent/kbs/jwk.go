package kbs

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// JOSE algorithm and parameter names used by the protocol.
const (
	AlgECDHESA256KW = "ECDH-ES+A256KW"
	AlgRSAOAEP256   = "RSA-OAEP-256"
	EncA256GCM      = "A256GCM"
	KtyEC           = "EC"
	KtyRSA          = "RSA"
	CrvP256         = "P-256"
)

// minRSABits is the smallest RSA modulus Seal encrypts to.
const minRSABits = 2048

var b64 = base64.RawURLEncoding

// NewEphemeralKey returns a fresh P-256 key pair for one session and its
// public JWK (alg ECDH-ES+A256KW, x and y as 32-byte unpadded base64url).
func NewEphemeralKey() (*ecdh.PrivateKey, JWK, error) {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, JWK{}, fmt.Errorf("generating P-256 key: %w", err)
	}
	return priv, ecJWK(priv.PublicKey(), AlgECDHESA256KW), nil
}

// ecJWK renders a P-256 public key; alg may be empty (as in a JWE epk).
func ecJWK(pub *ecdh.PublicKey, alg string) JWK {
	pt := pub.Bytes() // 0x04 ‖ X[32] ‖ Y[32]
	return JWK{Kty: KtyEC, Crv: CrvP256, Alg: alg, X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:65])}
}

// ecPublicKey parses and validates (on the curve, not infinity) a P-256 JWK.
func ecPublicKey(k JWK) (*ecdh.PublicKey, error) {
	if k.Kty != KtyEC || k.Crv != CrvP256 {
		return nil, fmt.Errorf("want an EC P-256 key, got kty %q crv %q", k.Kty, k.Crv)
	}
	x, err := b64.DecodeString(k.X)
	if err != nil || len(x) != 32 {
		return nil, errors.New("x must be 32 bytes of unpadded base64url")
	}
	y, err := b64.DecodeString(k.Y)
	if err != nil || len(y) != 32 {
		return nil, errors.New("y must be 32 bytes of unpadded base64url")
	}
	pt := append(append([]byte{4}, x...), y...)
	pub, err := ecdh.P256().NewPublicKey(pt)
	if err != nil {
		return nil, fmt.Errorf("invalid P-256 point: %w", err)
	}
	return pub, nil
}

// rsaPublicKey parses an RSA JWK and enforces a minimum modulus size.
func rsaPublicKey(k JWK) (*rsa.PublicKey, error) {
	if k.Kty != KtyRSA {
		return nil, fmt.Errorf("want an RSA key, got kty %q", k.Kty)
	}
	n, err := b64.DecodeString(k.N)
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	e, err := b64.DecodeString(k.E)
	if err != nil {
		return nil, fmt.Errorf("e: %w", err)
	}
	N, E := new(big.Int).SetBytes(n), new(big.Int).SetBytes(e)
	if N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA modulus has %d bits, want at least %d", N.BitLen(), minRSABits)
	}
	if !E.IsInt64() || E.Int64() < 3 || E.Int64() > 1<<31-1 || E.Bit(0) == 0 {
		return nil, errors.New("RSA exponent out of range")
	}
	return &rsa.PublicKey{N: N, E: int(E.Int64())}, nil
}

// RSAJWK renders an RSA public key for RSA-OAEP-256 (n, e unpadded base64url).
func RSAJWK(pub *rsa.PublicKey) JWK {
	return JWK{
		Kty: KtyRSA, Alg: AlgRSAOAEP256,
		N: b64.EncodeToString(pub.N.Bytes()),
		E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}
