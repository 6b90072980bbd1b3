package kbs

import (
	"crypto/aes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// concatKDF is the single-pass Concat KDF of NIST SP 800-56A §5.8.1 as JWA
// (RFC 7518 §4.6.2) uses it with SHA-256: SHA-256(counter=1 ‖ Z ‖
// len(alg) ‖ alg ‖ len(apu) ‖ apu ‖ len(apv) ‖ apv ‖ keybits), lengths as
// 32-bit big-endian. keyLen must be at most 32 bytes (one round).
func concatKDF(z []byte, alg string, apu, apv []byte, keyLen int) []byte {
	h := sha256.New()
	var u32 [4]byte
	put := func(v int) {
		binary.BigEndian.PutUint32(u32[:], uint32(v))
		h.Write(u32[:])
	}
	put(1)
	h.Write(z)
	put(len(alg))
	h.Write([]byte(alg))
	put(len(apu))
	h.Write(apu)
	put(len(apv))
	h.Write(apv)
	put(keyLen * 8)
	sum := h.Sum(nil)
	out := make([]byte, keyLen)
	copy(out, sum)
	clear(sum)
	return out
}

// kwIV is the default initial value of RFC 3394 §2.2.3.1.
var kwIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// errKeyUnwrap is returned when AES key unwrapping fails its integrity check.
var errKeyUnwrap = errors.New("AES key unwrap: integrity check failed")

// aesKeyWrap wraps key (a multiple of 8 bytes, at least 16) under kek with
// the AES Key Wrap algorithm of RFC 3394 §2.2.1.
func aesKeyWrap(kek, key []byte) ([]byte, error) {
	if len(key)%8 != 0 || len(key) < 16 {
		return nil, errors.New("AES key wrap: key length must be a multiple of 8, at least 16")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(key) / 8
	out := make([]byte, 8+len(key))
	copy(out[8:], key)
	var buf [16]byte
	copy(buf[:8], kwIV[:])
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[8:], out[8*i:])
			block.Encrypt(buf[:], buf[:])
			xorCounter(buf[:8], uint64(n*j+i))
			copy(out[8*i:], buf[8:])
		}
	}
	copy(out[:8], buf[:8])
	clear(buf[:])
	return out, nil
}

// aesKeyUnwrap reverses aesKeyWrap (RFC 3394 §2.2.2) and checks the IV.
func aesKeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, errors.New("AES key unwrap: wrapped key length must be a multiple of 8, at least 24")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped)-8)
	copy(out, wrapped[8:])
	var buf [16]byte
	copy(buf[:8], wrapped[:8])
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			xorCounter(buf[:8], uint64(n*j+i))
			copy(buf[8:], out[8*(i-1):])
			block.Decrypt(buf[:], buf[:])
			copy(out[8*(i-1):], buf[8:])
		}
	}
	ok := subtle.ConstantTimeCompare(buf[:8], kwIV[:]) == 1
	clear(buf[:])
	if !ok {
		clear(out)
		return nil, errKeyUnwrap
	}
	return out, nil
}

// xorCounter XORs the 64-bit big-endian t into a.
func xorCounter(a []byte, t uint64) {
	var tb [8]byte
	binary.BigEndian.PutUint64(tb[:], t)
	subtle.XORBytes(a, a, tb[:])
}
