package agent

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const testUUID = "0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b"

func TestCheckLUKS2AcceptsFixture(t *testing.T) {
	l, err := checkLUKS2(luksFixture(testUUID, nil), testUUID)
	if err != nil {
		t.Fatalf("checkLUKS2: %v", err)
	}
	if want := (luksLayout{hdrSize: fixHdrSize, offset: fixSegOff, sectorSize: 512}); l != want {
		t.Errorf("layout = %+v, want %+v", l, want)
	}
}

// TestCheckLUKS2Cryptsetup checks a header made by cryptsetup itself, the
// tool cvmctl seal uses.
func TestCheckLUKS2Cryptsetup(t *testing.T) {
	cs, err := exec.LookPath("cryptsetup")
	if err != nil {
		t.Skip("cryptsetup not installed")
	}
	dir := t.TempDir()
	img, keyfile := filepath.Join(dir, "disk.img"), filepath.Join(dir, "key")
	if err := os.WriteFile(keyfile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil || os.Truncate(img, 20<<20) != nil {
		t.Fatal("creating image")
	}
	out, err := exec.Command(cs, "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
		"--pbkdf-force-iterations", "1000", "--uuid", testUUID, "--key-file", keyfile, img).CombinedOutput()
	if err != nil {
		t.Fatalf("cryptsetup luksFormat: %v\n%s", err, out)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	l, err := checkLUKS2(b[:16<<20], testUUID)
	if err != nil {
		t.Fatalf("checkLUKS2(cryptsetup header): %v", err)
	}
	// cryptsetup's LUKS2 defaults: 16 KiB header, data at 16 MiB.
	if l.hdrSize != 16384 || l.offset != 16<<20 || l.size != 0 {
		t.Errorf("layout = %+v, want hdr 16384, offset 16 MiB, dynamic size", l)
	}
}

func TestCheckLUKS2Rejects(t *testing.T) {
	seg := func(k string, v any) func(map[string]any) {
		return func(j map[string]any) { j["segments"].(map[string]any)["0"].(map[string]any)[k] = v }
	}
	slot := func(sub, k string, v any) func(map[string]any) {
		return func(j map[string]any) {
			ks := j["keyslots"].(map[string]any)["0"].(map[string]any)
			if sub == "" {
				ks[k] = v
				return
			}
			ks[sub].(map[string]any)[k] = v
		}
	}
	digest := func(k string, v any) func(map[string]any) {
		return func(j map[string]any) { j["digests"].(map[string]any)["0"].(map[string]any)[k] = v }
	}
	jsonCases := map[string]func(map[string]any){
		"cipher_null segment": seg("encryption", "cipher_null-ecb"),
		"capi segment":        seg("encryption", "capi:xts(aes)-plain64"),
		"constant IV":         seg("encryption", "aes-xts-null"),
		"sector size 0":       seg("sector_size", 0),
		"iv_tweak shifted":    seg("iv_tweak", "1"),
		"integrity":           seg("integrity", map[string]any{"type": "hmac(sha256)"}),
		"offset unaligned":    seg("offset", "65537"),
		"offset in header":    seg("offset", "16384"),
		"offset huge":         seg("offset", "137438953472"),
		"size zero":           seg("size", "0"),
		"size unaligned":      seg("size", "1000"),
		"not crypt":           seg("type", "linear"),
		"two segments":        func(j map[string]any) { j["segments"].(map[string]any)["1"] = j["segments"].(map[string]any)["0"] },
		"no keyslots":         func(j map[string]any) { j["keyslots"] = map[string]any{} },
		"keyslot cipher_null": slot("area", "encryption", "cipher_null-ecb"),
		"keyslot overlaps":    slot("area", "offset", "63488"),
		"keyslot in header":   slot("area", "offset", "0"),
		"keyslot type":        slot("", "type", "luks1"),
		"kdf scrypt":          slot("kdf", "type", "scrypt"),
		"pbkdf2 absurd":       slot("kdf", "iterations", 1<<40),
		"argon2 memory absurd": func(j map[string]any) {
			slot("", "kdf", map[string]any{"type": "argon2id", "time": 4, "memory": 1 << 30, "cpus": 1})(j)
		},
		"keyslot key_size 0":     slot("", "key_size", 0),
		"keyslot key_size 32":    slot("", "key_size", 32),
		"area key_size 0":        slot("area", "key_size", 0),
		"af stripes 1":           slot("af", "stripes", 1),
		"af hash sha1":           slot("af", "hash", "sha1"),
		"kdf hash sha1":          slot("kdf", "hash", "sha1"),
		"digest iterations huge": digest("iterations", 1<<32-1),
		"digest iterations 1":    digest("iterations", 1),
		"digest no segment":      digest("segments", []string{}),
		"digest other segment":   digest("segments", []string{"7"}),
		"digest missing keyslot": digest("keyslots", []string{"0", "9"}),
		"digest no keyslots":     digest("keyslots", []string{}),
		"two digests":            func(j map[string]any) { j["digests"].(map[string]any)["1"] = j["digests"].(map[string]any)["0"] },
		"empty digest":           digest("digest", ""),
		"short digest":           digest("digest", "AAAA"),
		"digest hash sha1":       digest("hash", "sha1"),
		"no digests":             func(j map[string]any) { j["digests"] = map[string]any{} },
		"requirements": func(j map[string]any) {
			j["config"].(map[string]any)["requirements"] = map[string]any{"mandatory": []string{"online-reencrypt"}}
		},
	}
	for name, mutate := range jsonCases {
		t.Run(name, func(t *testing.T) {
			if _, err := checkLUKS2(luksFixture(testUUID, mutate), testUUID); !errors.Is(err, ErrHeaderRejected) {
				t.Errorf("error = %v, want ErrHeaderRejected", err)
			}
		})
	}
	binCases := map[string]func(b []byte){
		"magic":          func(b []byte) { b[0] = 'X' },
		"version 1":      func(b []byte) { binary.BigEndian.PutUint16(b[6:], 1); reChecksum(b) },
		"hdr_size odd":   func(b []byte) { binary.BigEndian.PutUint64(b[8:], 20000) },
		"hdr_size 8M":    func(b []byte) { binary.BigEndian.PutUint64(b[8:], 8<<20) },
		"checksum":       func(b []byte) { b[4100] ^= 1 },
		"checksum alg":   func(b []byte) { copy(b[72:], "sha1\x00\x00"); reChecksum(b) },
		"no NUL in JSON": func(b []byte) { fillJSON(b); reChecksum(b) },
		"uuid":           func(b []byte) { copy(b[168:], "11111111"); reChecksum(b) },
		"truncated":      nil,
	}
	for name, mutate := range binCases {
		t.Run(name, func(t *testing.T) {
			b := luksFixture(testUUID, nil)
			if mutate == nil {
				b = b[:fixHdrSize-1]
			} else {
				mutate(b)
			}
			if _, err := checkLUKS2(b, testUUID); !errors.Is(err, ErrHeaderRejected) {
				t.Errorf("error = %v, want ErrHeaderRejected", err)
			}
		})
	}
}

func fillJSON(b []byte) {
	for i := 4096; i < fixHdrSize; i++ {
		if b[i] == 0 {
			b[i] = ' '
		}
	}
}

func FuzzCheckLUKS2(f *testing.F) {
	f.Add(luksFixture(testUUID, nil)[:fixHdrSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = checkLUKS2(b, testUUID) // must not panic
		_, _ = parseLUKSBinary(b)
	})
}
