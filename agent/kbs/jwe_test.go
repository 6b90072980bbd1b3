package kbs

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"regexp"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var plaintext = []byte("the disk key: 0123456789abcdef0123456789abcdef")

// testRSAKey is generated once: RSA key generation is slow on small machines.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// ecKeys returns one P-256 key in the forms go-jose and this package use.
func ecKeys(t *testing.T) (*ecdsa.PrivateKey, *ecdh.PrivateKey, JWK) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, err := k.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	return k, e, ecJWK(e.PublicKey(), AlgECDHESA256KW)
}

func sealT(t *testing.T, key JWK, pt []byte) *JWE {
	t.Helper()
	j, err := Seal(key, pt)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJWERoundTrip(t *testing.T) {
	priv, jwk, err := NewEphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	if jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ECDH-ES+A256KW" || len(jwk.X) != 43 || len(jwk.Y) != 43 {
		t.Fatalf("ephemeral JWK = %+v", jwk)
	}
	rsaKey := testRSAKey()
	cases := []struct {
		name string
		key  JWK
		priv any
		pt   []byte
	}{
		{"EC", jwk, priv, plaintext},
		{"EC empty", jwk, priv, []byte{}},
		{"RSA", RSAJWK(&rsaKey.PublicKey), rsaKey, plaintext},
	}
	for _, tc := range cases {
		buf, err := Open(tc.priv, sealT(t, tc.key, tc.pt))
		if err != nil || !bytes.Equal(buf.Bytes(), tc.pt) {
			t.Errorf("%s: Open = %q, %v", tc.name, buf.Bytes(), err)
		}
	}
}

func TestProtectedHeaderForm(t *testing.T) {
	_, _, jwk := ecKeys(t)
	hdr, err := b64.DecodeString(sealT(t, jwk, plaintext).Protected)
	if err != nil {
		t.Fatal(err)
	}
	// alg, enc first, other keys alphabetical; epk members crv, kty, x, y.
	re := regexp.MustCompile(`^\{"alg":"ECDH-ES\+A256KW","enc":"A256GCM","epk":\{"crv":"P-256","kty":"EC","x":"[A-Za-z0-9_-]{43}","y":"[A-Za-z0-9_-]{43}"\}\}$`)
	if !re.Match(hdr) {
		t.Errorf("EC protected header = %s", hdr)
	}
	rsaHdr, _ := b64.DecodeString(sealT(t, RSAJWK(&testRSAKey().PublicKey), plaintext).Protected)
	if string(rsaHdr) != `{"alg":"RSA-OAEP-256","enc":"A256GCM"}` {
		t.Errorf("RSA protected header = %s", rsaHdr)
	}
}

func TestGoJoseOpensOurs(t *testing.T) {
	ecdsaKey, _, jwk := ecKeys(t)
	rsaKey := testRSAKey()
	cases := []struct {
		alg  jose.KeyAlgorithm
		key  JWK
		priv any
	}{
		{jose.ECDH_ES_A256KW, jwk, ecdsaKey},
		{jose.RSA_OAEP_256, RSAJWK(&rsaKey.PublicKey), rsaKey},
	}
	for _, tc := range cases {
		wire, _ := json.Marshal(sealT(t, tc.key, plaintext))
		obj, err := jose.ParseEncryptedJSON(string(wire), []jose.KeyAlgorithm{tc.alg}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			t.Fatalf("%s: go-jose parse: %v", tc.alg, err)
		}
		got, err := obj.Decrypt(tc.priv)
		if err != nil || !bytes.Equal(got, plaintext) {
			t.Errorf("%s: go-jose decrypt = %q, %v", tc.alg, got, err)
		}
	}
}

func TestWeOpenGoJose(t *testing.T) {
	ecdsaKey, ecdhKey, _ := ecKeys(t)
	rsaKey := testRSAKey()
	cases := []struct {
		alg      jose.KeyAlgorithm
		pub, our any
	}{
		{jose.ECDH_ES_A256KW, &ecdsaKey.PublicKey, ecdhKey},
		{jose.RSA_OAEP_256, &rsaKey.PublicKey, rsaKey},
	}
	for _, tc := range cases {
		enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: tc.alg, Key: tc.pub}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt(plaintext)
		if err != nil {
			t.Fatal(err)
		}
		var j JWE
		if err := json.Unmarshal([]byte(obj.FullSerialize()), &j); err != nil {
			t.Fatal(err)
		}
		buf, err := Open(tc.our, &j)
		if err != nil || !bytes.Equal(buf.Bytes(), plaintext) {
			t.Errorf("%s: Open(go-jose JWE) = %q, %v", tc.alg, buf.Bytes(), err)
		}
	}
}

// flipBit returns s (base64url) with one bit of its decoded bytes flipped.
func flipBit(t *testing.T, s string, byteIdx int) string {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("cannot flip %q", s)
	}
	b[byteIdx%len(b)] ^= 0x01
	return b64.EncodeToString(b)
}

// addMember returns a copy of the JSON object hdr with one more member.
func addMember(hdr []byte, member string) []byte {
	out := bytes.Clone(hdr[:len(hdr)-1])
	return append(out, ","+member+"}"...)
}

func TestJWETamperRejected(t *testing.T) {
	_, ecdhKey, jwk := ecKeys(t)
	orig := sealT(t, jwk, plaintext)
	hdr, _ := b64.DecodeString(orig.Protected)
	tamper := map[string]func(j *JWE){
		"ciphertext":      func(j *JWE) { j.Ciphertext = flipBit(t, j.Ciphertext, 5) },
		"tag":             func(j *JWE) { j.Tag = flipBit(t, j.Tag, 15) },
		"iv":              func(j *JWE) { j.IV = flipBit(t, j.IV, 0) },
		"encrypted_key":   func(j *JWE) { j.EncryptedKey = flipBit(t, j.EncryptedKey, 20) },
		"protected epk":   func(j *JWE) { j.Protected = flipBit(t, j.Protected, len(hdr)-10) },
		"protected extra": func(j *JWE) { j.Protected = b64.EncodeToString(addMember(hdr, `"kid":"a"`)) },
		"protected enc": func(j *JWE) {
			j.Protected = b64.EncodeToString(bytes.Replace(hdr, []byte("A256GCM"), []byte("A128GCM"), 1))
		},
		"zip":    func(j *JWE) { j.Protected = b64.EncodeToString(addMember(hdr, `"zip":"DEF"`)) },
		"crit":   func(j *JWE) { j.Protected = b64.EncodeToString(addMember(hdr, `"crit":["x"]`)) },
		"no epk": func(j *JWE) { j.Protected = b64.EncodeToString([]byte(`{"alg":"ECDH-ES+A256KW","enc":"A256GCM"}`)) },
		"rsa alg": func(j *JWE) {
			j.Protected = b64.EncodeToString(bytes.Replace(hdr, []byte("ECDH-ES+A256KW"), []byte("RSA-OAEP-256"), 1))
		},
		"short iv":   func(j *JWE) { j.IV = j.IV[:8] },
		"short tag":  func(j *JWE) { j.Tag = j.Tag[:10] },
		"padded b64": func(j *JWE) { j.Tag += "==" },
		"not base64": func(j *JWE) { j.Protected = "!!" },
	}
	for name, f := range tamper {
		j := *orig
		f(&j)
		if buf, err := Open(ecdhKey, &j); err == nil {
			t.Errorf("%s: tampered JWE opened to %q", name, buf.Bytes())
		}
	}
	if buf, err := Open(ecdhKey, orig); err != nil || !bytes.Equal(buf.Bytes(), plaintext) {
		t.Fatalf("untampered JWE no longer opens: %v", err)
	}
	_, otherKey, _ := ecKeys(t)
	for name, k := range map[string]any{"other EC key": otherKey, "RSA key": testRSAKey(), "nil": nil, "wrong type": "key"} {
		if _, err := Open(k, orig); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
	if _, err := Open(ecdhKey, nil); err == nil {
		t.Error("Open(nil JWE) succeeded")
	}
}

func TestSealRejectsKeys(t *testing.T) {
	_, _, jwk := ecKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := jwk
	offCurve.Y = jwk.X
	short := jwk
	short.X = jwk.X[:40]
	wrongAlg := jwk
	wrongAlg.Alg = "RSA-OAEP-256"
	p384 := jwk
	p384.Crv = "P-384"
	rsaWrongAlg := RSAJWK(&testRSAKey().PublicKey)
	rsaWrongAlg.Alg = "RSA1_5"
	for name, k := range map[string]JWK{
		"off curve": offCurve, "short x": short, "EC with RSA alg": wrongAlg, "P-384": p384,
		"RSA-1024": RSAJWK(&small.PublicKey), "RSA1_5": rsaWrongAlg, "oct": {Kty: "oct"},
	} {
		if _, err := Seal(k, plaintext); err == nil {
			t.Errorf("%s: Seal succeeded", name)
		}
	}
}
