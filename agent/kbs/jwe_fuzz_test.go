package kbs

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzOpen feeds Open resource responses as a hostile broker or network
// could shape them (the JSON body, decoded as the client does): no panic,
// and nothing opens except a JWE sealed to the key, whose plaintext is
// then exactly what was sealed.
func FuzzOpen(f *testing.F) {
	priv, jwk, err := NewEphemeralKey()
	if err != nil {
		f.Fatal(err)
	}
	plain := []byte("fuzz-plaintext")
	j, err := Seal(jwk, plain)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(j)
	f.Add(good)
	f.Add([]byte(`{"protected":"","encrypted_key":"","iv":"","ciphertext":"","tag":""}`))
	f.Add([]byte(`{"protected":"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0","iv":"AAAA","ciphertext":"AA","tag":"AA"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in JWE
		if json.Unmarshal(body, &in) != nil {
			return
		}
		buf, err := Open(priv, &in)
		if err != nil {
			return
		}
		defer buf.Wipe()
		if !bytes.Equal(buf.Bytes(), plain) {
			t.Fatalf("opened a JWE to %q, not the sealed plaintext", buf.Bytes())
		}
	})
}
