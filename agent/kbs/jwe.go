package kbs

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cvminit/cvminit/agent/secret"
)

const (
	cekLen    = 32 // A256GCM key
	gcmIVLen  = 12
	gcmTagLen = 16
)

// sealHeader is the protected header Seal emits. Its member order is the
// one Rust peers re-create: alg, enc, then the rest alphabetically.
type sealHeader struct {
	Alg string   `json:"alg"`
	Enc string   `json:"enc"`
	Epk *epkJSON `json:"epk,omitempty"`
}

// epkJSON is the ephemeral public key, members in alphabetical order.
type epkJSON struct {
	Crv string `json:"crv"`
	Kty string `json:"kty"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// openHeader is what Open reads from a protected header; other members are
// ignored unless they change the meaning (zip, crit), which are refused.
type openHeader struct {
	Alg  string           `json:"alg"`
	Enc  string           `json:"enc"`
	Epk  *JWK             `json:"epk"`
	Apu  string           `json:"apu"`
	Apv  string           `json:"apv"`
	Zip  *json.RawMessage `json:"zip"`
	Crit *json.RawMessage `json:"crit"`
}

// Seal encrypts plaintext to key as a flattened JWE with enc A256GCM: alg
// ECDH-ES+A256KW for an EC P-256 key, RSA-OAEP-256 for an RSA key (at least
// 2048 bits). The content key and the key-agreement intermediates are zeroed
// before Seal returns; Go's AES key schedule cannot be.
func Seal(key JWK, plaintext []byte) (*JWE, error) {
	cek := make([]byte, cekLen)
	defer clear(cek)
	if _, err := rand.Read(cek); err != nil {
		return nil, fmt.Errorf("sealing JWE: %w", err)
	}
	hdr, ek, err := wrapCEK(key, cek)
	if err != nil {
		return nil, fmt.Errorf("sealing JWE: %w", err)
	}
	hj, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("sealing JWE: %w", err)
	}
	j := &JWE{Protected: b64.EncodeToString(hj), EncryptedKey: b64.EncodeToString(ek)}
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("sealing JWE: %w", err)
	}
	aead, err := newGCM(cek)
	if err != nil {
		return nil, fmt.Errorf("sealing JWE: %w", err)
	}
	sealed := aead.Seal(nil, iv, plaintext, []byte(j.Protected))
	cut := len(sealed) - gcmTagLen
	j.IV, j.Ciphertext, j.Tag = b64.EncodeToString(iv), b64.EncodeToString(sealed[:cut]), b64.EncodeToString(sealed[cut:])
	return j, nil
}

// wrapCEK encrypts the content key to the recipient and returns the header.
func wrapCEK(key JWK, cek []byte) (*sealHeader, []byte, error) {
	switch {
	case key.Kty == KtyEC && key.Alg == AlgECDHESA256KW:
		pub, err := ecPublicKey(key)
		if err != nil {
			return nil, nil, fmt.Errorf("recipient key: %w", err)
		}
		eph, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		kek, err := agreeKEK(eph, pub, nil, nil)
		if err != nil {
			return nil, nil, err
		}
		defer clear(kek)
		ek, err := aesKeyWrap(kek, cek)
		epk := ecJWK(eph.PublicKey(), "")
		return &sealHeader{Alg: AlgECDHESA256KW, Enc: EncA256GCM,
			Epk: &epkJSON{Crv: epk.Crv, Kty: epk.Kty, X: epk.X, Y: epk.Y}}, ek, err
	case key.Kty == KtyRSA && key.Alg == AlgRSAOAEP256:
		pub, err := rsaPublicKey(key)
		if err != nil {
			return nil, nil, fmt.Errorf("recipient key: %w", err)
		}
		ek, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
		return &sealHeader{Alg: AlgRSAOAEP256, Enc: EncA256GCM}, ek, err
	}
	return nil, nil, fmt.Errorf("unsupported recipient key: kty %q alg %q", key.Kty, key.Alg)
}

// agreeKEK runs ECDH and derives the A256KW key-encryption key.
func agreeKEK(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, apu, apv []byte) ([]byte, error) {
	z, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("ECDH: %w", err)
	}
	defer clear(z)
	return concatKDF(z, AlgECDHESA256KW, apu, apv, 32), nil
}

// Open decrypts a JWE made by Seal (or any ECDH-ES+A256KW / RSA-OAEP-256
// with A256GCM JWE) with priv, an *ecdh.PrivateKey or an *rsa.PrivateKey.
// The AAD is the protected member as received. The plaintext is returned in
// a secret.Buffer; the content key is zeroed before Open returns.
func Open(priv crypto.PrivateKey, j *JWE) (*secret.Buffer, error) {
	if j == nil {
		return nil, errors.New("opening JWE: nil JWE")
	}
	hdr, err := parseOpenHeader(j.Protected)
	if err != nil {
		return nil, fmt.Errorf("opening JWE: %w", err)
	}
	iv, ek, ct, tag, err := decodeJWEParts(j)
	if err != nil {
		return nil, fmt.Errorf("opening JWE: %w", err)
	}
	cek, err := unwrapCEK(priv, hdr, ek)
	if err != nil {
		return nil, fmt.Errorf("opening JWE: %w", err)
	}
	defer clear(cek)
	aead, err := newGCM(cek)
	if err != nil {
		return nil, fmt.Errorf("opening JWE: %w", err)
	}
	buf := secret.New(len(ct))
	if _, err := aead.Open(buf.Bytes()[:0], iv, append(ct, tag...), []byte(j.Protected)); err != nil {
		buf.Wipe()
		return nil, fmt.Errorf("opening JWE: content decryption: %w", err)
	}
	return buf, nil
}

// parseOpenHeader decodes the protected header and checks what Open supports.
func parseOpenHeader(protected string) (*openHeader, error) {
	raw, err := b64.DecodeString(protected)
	if err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	var h openHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	switch {
	case h.Enc != EncA256GCM:
		return nil, fmt.Errorf("unsupported enc %q", h.Enc)
	case h.Zip != nil:
		return nil, errors.New("compressed JWE (zip) is not supported")
	case h.Crit != nil:
		return nil, errors.New("critical header extensions (crit) are not supported")
	}
	return &h, nil
}

// decodeJWEParts base64url-decodes the binary members and checks sizes.
func decodeJWEParts(j *JWE) (iv, ek, ct, tag []byte, err error) {
	parts := []struct {
		name string
		in   string
		out  *[]byte
	}{{"iv", j.IV, &iv}, {"encrypted_key", j.EncryptedKey, &ek}, {"ciphertext", j.Ciphertext, &ct}, {"tag", j.Tag, &tag}}
	for _, p := range parts {
		if *p.out, err = b64.DecodeString(p.in); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	if len(iv) != gcmIVLen || len(tag) != gcmTagLen {
		return nil, nil, nil, nil, fmt.Errorf("iv/tag are %d/%d bytes, want %d/%d", len(iv), len(tag), gcmIVLen, gcmTagLen)
	}
	return iv, ek, ct, tag, nil
}

// unwrapCEK recovers the content key with the recipient's private key.
func unwrapCEK(priv crypto.PrivateKey, h *openHeader, ek []byte) ([]byte, error) {
	var cek []byte
	var err error
	switch k := priv.(type) {
	case *ecdh.PrivateKey:
		cek, err = unwrapECDH(k, h, ek)
	case *rsa.PrivateKey:
		if h.Alg != AlgRSAOAEP256 {
			return nil, fmt.Errorf("alg %q does not match an RSA key", h.Alg)
		}
		cek, err = rsa.DecryptOAEP(sha256.New(), nil, k, ek, nil)
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	if err != nil {
		return nil, fmt.Errorf("unwrapping content key: %w", err)
	}
	if len(cek) != cekLen {
		clear(cek)
		return nil, fmt.Errorf("content key is %d bytes, want %d", len(cek), cekLen)
	}
	return cek, nil
}

// unwrapECDH is the ECDH-ES+A256KW half of unwrapCEK.
func unwrapECDH(k *ecdh.PrivateKey, h *openHeader, ek []byte) ([]byte, error) {
	if h.Alg != AlgECDHESA256KW || k.Curve() != ecdh.P256() {
		return nil, fmt.Errorf("alg %q does not match a P-256 ECDH key", h.Alg)
	}
	if h.Epk == nil {
		return nil, errors.New("epk missing from the header")
	}
	epk, err := ecPublicKey(*h.Epk)
	if err != nil {
		return nil, fmt.Errorf("epk: %w", err)
	}
	apu, err1 := b64.DecodeString(h.Apu)
	apv, err2 := b64.DecodeString(h.Apv)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("apu/apv: %w", err)
	}
	kek, err := agreeKEK(k, epk, apu, apv)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	return aesKeyUnwrap(kek, ek)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
