package kbs

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"testing"

	josecipher "github.com/go-jose/go-jose/v4/cipher"
)

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3394 §4.6: wrap 256 bits of key data with a 256-bit KEK.
func TestAESKeyWrapRFC3394(t *testing.T) {
	kek := unhexT(t, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	key := unhexT(t, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	want := unhexT(t, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	got, err := aesKeyWrap(kek, key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("wrap = %x, %v; want %x", got, err, want)
	}
	back, err := aesKeyUnwrap(kek, want)
	if err != nil || !bytes.Equal(back, key) {
		t.Fatalf("unwrap = %x, %v", back, err)
	}
	for i := range want {
		bad := bytes.Clone(want)
		bad[i] ^= 1
		if _, err := aesKeyUnwrap(kek, bad); err != errKeyUnwrap {
			t.Fatalf("flipping byte %d: err = %v, want errKeyUnwrap", i, err)
		}
	}
	for _, n := range []int{0, 8, 17} {
		if _, err := aesKeyWrap(kek, make([]byte, n)); err == nil {
			t.Errorf("wrapping %d bytes succeeded", n)
		}
	}
	if _, err := aesKeyUnwrap(kek, make([]byte, 16)); err == nil {
		t.Error("unwrapping 16 bytes succeeded")
	}
}

// go-jose's independent key wrap agrees on random inputs.
func TestAESKeyWrapMatchesGoJose(t *testing.T) {
	for range 20 {
		kek, key := make([]byte, 32), make([]byte, 32)
		_, _ = rand.Read(kek)
		_, _ = rand.Read(key)
		block, _ := aes.NewCipher(kek)
		theirs, err := josecipher.KeyWrap(block, key)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := aesKeyWrap(kek, key)
		if err != nil || !bytes.Equal(ours, theirs) {
			t.Fatalf("wrap differs from go-jose: %x vs %x", ours, theirs)
		}
	}
}

// RFC 7518 Appendix C: ECDH-ES between Alice's ephemeral key and Bob's key,
// Concat KDF with alg "A128GCM", apu "Alice", apv "Bob", 128 bits.
func TestConcatKDFRFC7518(t *testing.T) {
	aliceD, _ := b64.DecodeString("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo")
	alice, err := ecdh.P256().NewPrivateKey(aliceD)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ecPublicKey(JWK{Kty: "EC", Crv: "P-256",
		X: "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ", Y: "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"})
	if err != nil {
		t.Fatal(err)
	}
	z, err := alice.ECDH(bob)
	if err != nil {
		t.Fatal(err)
	}
	got := concatKDF(z, "A128GCM", []byte("Alice"), []byte("Bob"), 16)
	if want := "VqqN6vgjbSBcIijNcacQGg"; b64.EncodeToString(got) != want {
		t.Fatalf("derived key %s, want %s", b64.EncodeToString(got), want)
	}
	// And go-jose's Concat KDF agrees for the protocol's parameters.
	theirs := make([]byte, 32)
	r := josecipher.NewConcatKDF(crypto.SHA256, z, lp(AlgECDHESA256KW), lp(""), lp(""), []byte{0, 0, 1, 0}, nil)
	_, _ = r.Read(theirs)
	if ours := concatKDF(z, AlgECDHESA256KW, nil, nil, 32); !bytes.Equal(ours, theirs) {
		t.Fatalf("concat KDF differs from go-jose: %x vs %x", ours, theirs)
	}
}

// lp length-prefixes s as JWA's Concat KDF inputs are.
func lp(s string) []byte {
	n := len(s)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, s...)
}
