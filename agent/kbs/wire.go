// Package kbs speaks the guest side of the Trustee Key Broker Service
// attestation protocol ("RCAR", protocol version 0.4.0) and holds the wire
// pieces the broker side shares with it: the JSON message types, the
// REPORT_DATA binding of a nonce and a public key, the Trustee JSON form of
// SEV-SNP evidence, the SNP extended-report certificate table, and the JWE
// that carries a released secret.
//
// The protocol is documented in confidential-containers/trustee
// (kbs/docs/kbs_attestation_protocol.md, kbs/src) with the types in the
// virtee/kbs-types crate; the evidence JSON is the serde form of the Rust
// sev crate's AttestationReport. No Go library implements them, so they are
// written here. The JWE code is also hand-written on crypto/ecdh, crypto/rsa
// and crypto/aes rather than on go-jose, because Rust peers re-serialise
// the protected header from its parsed form (alg, enc, then the other keys in
// alphabetical order, epk members crv, kty, x, y) and go-jose emits a
// different member order; hand-writing it also lets the CEK, the ECDH
// secret and the key-wrapping key be zeroed after use. go-jose is used in
// the tests as an independent implementation to check against.
package kbs

import "encoding/json"

// ProtocolVersion is the only KBS protocol version Trustee 0.4.0 servers
// accept in Request.Version.
const ProtocolVersion = "0.4.0"

// TeeSNP is the Request.Tee value for AMD SEV-SNP guests.
const TeeSNP = "snp"

// Paths of the three protocol steps, relative to the broker's base URL.
const (
	PathAuth     = "/kbs/v0/auth"
	PathAttest   = "/kbs/v0/attest"
	PathResource = "/kbs/v0/resource/" // followed by repository/type/tag
)

// SessionCookie is the name of the cookie that ties the three steps together.
const SessionCookie = "kbs-session-id"

// Request is the body of POST /kbs/v0/auth.
type Request struct {
	Version     string          `json:"version"`
	Tee         string          `json:"tee"`
	ExtraParams json.RawMessage `json:"extra-params"`
}

// Challenge is the broker's answer to Request: a fresh nonce (standard
// base64 of 32 random bytes at Trustee) to be bound into the evidence.
type Challenge struct {
	Nonce       string          `json:"nonce"`
	ExtraParams json.RawMessage `json:"extra-params"`
}

// Attestation is the body of POST /kbs/v0/attest.
type Attestation struct {
	// InitData is Trustee's optional INITDATA ({"format","body"}); null here.
	InitData    *json.RawMessage `json:"init-data"`
	RuntimeData RuntimeData      `json:"runtime-data"`
	// TeeEvidence is a CompositeEvidence object.
	TeeEvidence json.RawMessage `json:"tee-evidence"`
}

// RuntimeData is what the evidence binds: the session nonce, verbatim, and
// the public key the released secret must be encrypted to.
type RuntimeData struct {
	Nonce     string `json:"nonce"`
	TeePubKey JWK    `json:"tee-pubkey"`
}

// CompositeEvidence is the tee-evidence object of protocol 0.4.0: the
// primary TEE's evidence and a JSON string (usually empty) mapping further
// TEE classes to their evidence.
type CompositeEvidence struct {
	PrimaryEvidence    json.RawMessage `json:"primary_evidence"`
	AdditionalEvidence string          `json:"additional_evidence"`
}

// JWK is a public JSON Web Key as the protocol carries it: EC P-256 (kty,
// crv, alg, x, y) with alg ECDH-ES+A256KW, or RSA (kty, alg, n, e) with alg
// RSA-OAEP-256. Coordinates and integers are unpadded base64url.
type JWK struct {
	Kty string `json:"kty,omitempty"`
	Crv string `json:"crv,omitempty"`
	Alg string `json:"alg,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// AttestationResponse is the broker's answer to a successful attestation.
// The token is a bearer credential: never log it.
type AttestationResponse struct {
	Token string `json:"token"`
}

// JWE is a flattened JSON Web Encryption object (RFC 7516 §7.2.2) as the
// resource endpoint returns it. Every member is unpadded base64url;
// Protected decodes to the JSON protected header and is also the AAD.
type JWE struct {
	Protected    string `json:"protected"`
	EncryptedKey string `json:"encrypted_key"`
	IV           string `json:"iv"`
	Ciphertext   string `json:"ciphertext"`
	Tag          string `json:"tag"`
}

// ErrorInfo is the body of a KBS error response (RFC 7807 style).
type ErrorInfo struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// errorTypePrefix is what Trustee puts before the error variant's name.
const errorTypePrefix = "https://github.com/confidential-containers/kbs/errors/"

// ErrorType returns the ErrorInfo.Type URI for a Trustee error variant, e.g.
// ErrorType("PolicyDeny").
func ErrorType(variant string) string {
	return errorTypePrefix + variant
}
