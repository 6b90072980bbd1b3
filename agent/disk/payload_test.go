package disk_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/secret"
)

const (
	pUUID = "3f1c2a9e-7b4d-4c21-9a0e-5d6f7e8a9b0c"
	pID   = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func TestParsePayload(t *testing.T) {
	good := `{"version":1,"key":"c2VjcmV0","luks_uuid":"` + pUUID + `","header_sha256":"` + pID + `"}`
	p, err := disk.ParsePayload([]byte(good))
	if err != nil {
		t.Fatalf("ParsePayload(good) = %v", err)
	}
	if string(p.Key.Bytes()) != "secret" || p.LUKSUUID != pUUID || p.HeaderSHA256 != pID {
		t.Errorf("parsed %q %q %q", p.Key.Bytes(), p.LUKSUUID, p.HeaderSHA256)
	}
	long := strings.Repeat("QUFB", 171) // 513 bytes
	bad := map[string]string{
		"raw key":        "0123456789abcdef",
		"empty":          "",
		"array":          "[]",
		"null":           "null",
		"version 2":      strings.Replace(good, `"version":1`, `"version":2`, 1),
		"version string": strings.Replace(good, `"version":1`, `"version":"1"`, 1),
		"version 1.0":    strings.Replace(good, `"version":1`, `"version":1.0`, 1),
		"unknown member": strings.Replace(good, `{`, `{"extra":0,`, 1),
		"case variant":   strings.Replace(good, `"key"`, `"Key"`, 1),
		"duplicate key":  strings.Replace(good, `{`, `{"key":"c2VjcmV0",`, 1),
		"missing uuid":   `{"version":1,"key":"c2VjcmV0","header_sha256":"` + pID + `"}`,
		"empty key":      strings.Replace(good, `c2VjcmV0`, ``, 1),
		"key too long":   strings.Replace(good, `c2VjcmV0`, long, 1),
		"key not b64":    strings.Replace(good, `c2VjcmV0`, `c2VjcmV0!`, 1),
		"key url b64":    strings.Replace(good, `c2VjcmV0`, `-_-_`, 1),
		"key escaped":    strings.Replace(good, `c2VjcmV0`, `c2Vjc\u006dV0`, 1),
		"key number":     strings.Replace(good, `"c2VjcmV0"`, `12`, 1),
		"bad uuid":       strings.Replace(good, pUUID, "not-a-uuid", 1),
		"upper hex id":   strings.Replace(good, pID, strings.ToUpper(pID), 1),
		"short id":       strings.Replace(good, pID, pID[:62], 1),
		"trailing data":  good + `{}`,
	}
	for name, in := range bad {
		if _, err := disk.ParsePayload([]byte(in)); !errors.Is(err, disk.ErrPayloadInvalid) {
			t.Errorf("%s: ParsePayload = %v, want ErrPayloadInvalid", name, err)
		}
	}
	if _, err := disk.ParsePayload([]byte(strings.Replace(good, `c2VjcmV0`, long[:680], 1))); err != nil {
		t.Errorf("510-byte key refused: %v", err)
	}
}

func TestPayloadMarshal(t *testing.T) {
	p := disk.Payload{Key: secret.FromBytes([]byte("secret")), LUKSUUID: pUUID, HeaderSHA256: pID}
	b, err := p.Marshal()
	want := `{"version":1,"key":"c2VjcmV0","luks_uuid":"` + pUUID + `","header_sha256":"` + pID + `"}`
	if err != nil || string(b) != want {
		t.Fatalf("Marshal = %s, %v; want %s", b, err, want)
	}
	back, err := disk.ParsePayload(b)
	if err != nil || !bytes.Equal(back.Key.Bytes(), []byte("secret")) {
		t.Errorf("round trip: %v", err)
	}
	for name, q := range map[string]disk.Payload{
		"no key":  {LUKSUUID: pUUID, HeaderSHA256: pID},
		"no uuid": {Key: secret.FromBytes([]byte("k")), HeaderSHA256: pID},
		"no id":   {Key: secret.FromBytes([]byte("k")), LUKSUUID: pUUID},
	} {
		if _, err := q.Marshal(); !errors.Is(err, disk.ErrPayloadInvalid) {
			t.Errorf("%s: Marshal = %v, want ErrPayloadInvalid", name, err)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(`{"version":1,"key":"c2VjcmV0","luks_uuid":"` + pUUID + `","header_sha256":"` + pID + `"}`))
	f.Add([]byte(`{"key":"","key":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := disk.ParsePayload(b)
		if err == nil && (p.Key.Len() == 0 || p.Key.Len() > disk.MaxPayloadKey) {
			t.Fatalf("accepted key of %d bytes", p.Key.Len())
		}
	})
}

func TestPayloadVerity(t *testing.T) {
	v := `{"root_hash":"` + pID + `","salt":"aabb","algorithm":"sha256","data_block_size":4096,` +
		`"hash_block_size":4096,"data_blocks":10,"hash_offset":40960}`
	good := `{"version":2,"key":"c2VjcmV0","luks_uuid":"` + pUUID + `","header_sha256":"` + pID + `","verity":` + v + `}`
	p, err := disk.ParsePayload([]byte(good))
	if err != nil {
		t.Fatalf("ParsePayload(good) = %v", err)
	}
	want := disk.Verity{RootHash: pID, Salt: "aabb", Algorithm: "sha256", DataBlockSize: 4096, HashBlockSize: 4096,
		DataBlocks: 10, HashOffset: 40960}
	if p.Verity == nil || *p.Verity != want {
		t.Fatalf("verity = %+v, want %+v", p.Verity, want)
	}
	out, err := p.Marshal()
	if err != nil || string(out) != good {
		t.Fatalf("Marshal = %s, %v; want the input back", out, err)
	}
	bad := map[string]string{
		"version 1 with verity": strings.Replace(good, `"version":2`, `"version":1`, 1),
		"version 2 without":     strings.Replace(strings.Replace(good, `,"verity":`+v, ``, 1), `"version":2`, `"version":2`, 1),
		"verity null":           strings.Replace(good, v, `null`, 1),
		"verity array":          strings.Replace(good, v, `[]`, 1),
		"unknown verity member": strings.Replace(good, `"salt"`, `"pepper"`, 1),
		"case variant":          strings.Replace(good, `"salt"`, `"Salt"`, 1),
		"duplicate member":      strings.Replace(good, `"salt":"aabb"`, `"salt":"aabb","salt":"cc"`, 1),
		"missing member":        strings.Replace(good, `"salt":"aabb",`, ``, 1),
		"odd salt":              strings.Replace(good, `"aabb"`, `"aab"`, 1),
		"upper root hash":       strings.Replace(good, `"root_hash":"`+pID, `"root_hash":"`+strings.ToUpper(pID), 1),
		"sha1":                  strings.Replace(good, `"sha256"`, `"sha1"`, 1),
		"512-byte blocks":       strings.Replace(good, `"data_block_size":4096`, `"data_block_size":512`, 1),
		"hash block 1024":       strings.Replace(good, `"hash_block_size":4096`, `"hash_block_size":1024`, 1),
		"no data blocks":        strings.Replace(strings.Replace(good, `"data_blocks":10`, `"data_blocks":0`, 1), `40960`, `0`, 1),
		"hash inside data":      strings.Replace(good, `40960`, `4096`, 1),
		"negative blocks":       strings.Replace(good, `"data_blocks":10`, `"data_blocks":-1`, 1),
	}
	for name, in := range bad {
		if in == good {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if _, err := disk.ParsePayload([]byte(in)); !errors.Is(err, disk.ErrPayloadInvalid) {
			t.Errorf("%s: ParsePayload = %v, want ErrPayloadInvalid", name, err)
		}
	}
}
