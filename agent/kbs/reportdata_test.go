package kbs

import (
	"encoding/hex"
	"testing"
)

// Vector from REFERENCE.md §1 (computed with Trustee's Rust code path).
var refNonce = "9tfvQK6A6gnaMjzyWJTzd0JHwZygJGc8+MKuG3fxHqk="
var refJWK = JWK{
	Kty: "EC", Crv: "P-256", Alg: "ECDH-ES+A256KW",
	X: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
	Y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
}

const refHash = "89f3cea84725dcf0476336fe811cc42898e70be8d315776e956898a4dbe47143c6e1f3657b8a95b1a7055dca542ffeb9"

func TestReportDataVector(t *testing.T) {
	got, err := ReportData(refNonce, refJWK)
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got[:48]); h != refHash {
		t.Errorf("hash = %s, want %s", h, refHash)
	}
	if [16]byte(got[48:]) != [16]byte{} {
		t.Errorf("trailing bytes = %x, want 16 zeros", got[48:])
	}
}

func TestCanonicalRuntimeData(t *testing.T) {
	// Written by hand from RFC 8785: keys sorted, no whitespace, '+' and '/'
	// not escaped.
	want := `{"additional-evidence":"","nonce":"9tfvQK6A6gnaMjzyWJTzd0JHwZygJGc8+MKuG3fxHqk=",` +
		`"tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC",` +
		`"x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}}`
	got, err := canonicalRuntimeData(refNonce, refJWK)
	if err != nil || string(got) != want {
		t.Errorf("canonical form:\n got %s (%v)\nwant %s", got, err, want)
	}
	rsa, err := canonicalRuntimeData("n", JWK{Kty: "RSA", Alg: "RSA-OAEP-256", N: "AQAB", E: "AQAB"})
	wantRSA := `{"additional-evidence":"","nonce":"n","tee-pubkey":{"alg":"RSA-OAEP-256","e":"AQAB","kty":"RSA","n":"AQAB"}}`
	if err != nil || string(rsa) != wantRSA {
		t.Errorf("RSA canonical form: got %s (%v)", rsa, err)
	}
}

func TestCanonicalStringEscapes(t *testing.T) {
	// RFC 8785 §3.2.2.2: only '"', '\' and C0 controls are escaped; short
	// forms where they exist, else lower-case \u00xx; U+2028, '<', '/' raw.
	tests := []struct{ in, want string }{
		{"a\"b\\c", `"a\"b\\c"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"<>&/\u2028€", `"<>&/` + "\u2028€" + `"`},
	}
	for _, tc := range tests {
		var b stringsBuilder
		if err := writeCanonicalString(&b.Builder, tc.in); err != nil || b.String() != tc.want {
			t.Errorf("%q: got %s (%v), want %s", tc.in, b.String(), err, tc.want)
		}
	}
}

func TestReportDataRejects(t *testing.T) {
	tests := []struct {
		name  string
		nonce string
		key   JWK
	}{
		{"invalid utf-8 nonce", "\xff", refJWK},
		{"no kty", refNonce, JWK{Crv: "P-256", Alg: "a", X: "x", Y: "y"}},
		{"EC without y", refNonce, JWK{Kty: "EC", Crv: "P-256", Alg: "a", X: "x"}},
		{"EC with n", refNonce, JWK{Kty: "EC", Crv: "P-256", Alg: "a", X: "x", Y: "y", N: "n"}},
		{"RSA without e", refNonce, JWK{Kty: "RSA", Alg: "a", N: "n"}},
		{"oct key", refNonce, JWK{Kty: "oct"}},
	}
	for _, tc := range tests {
		if _, err := ReportData(tc.nonce, tc.key); err == nil {
			t.Errorf("%s: ReportData succeeded, want an error", tc.name)
		}
	}
}
