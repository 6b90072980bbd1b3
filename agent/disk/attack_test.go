package disk_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

type mutation func(j map[string]any)

func set(v any, path ...string) mutation {
	return func(j map[string]any) { disktest.Obj(j, path[:len(path)-1]...)[path[len(path)-1]] = v }
}

func del(path ...string) mutation {
	return func(j map[string]any) { delete(disktest.Obj(j, path[:len(path)-1]...), path[len(path)-1]) }
}

func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, n)) }

// jsonAttacks are host-style edits of the JSON metadata (SECURITY.md H1 and
// everything else outside the allow-list).
var jsonAttacks = map[string]mutation{
	"cipher_null segment":       set("cipher_null-ecb", "segments", "0", "encryption"),
	"capi segment":              set("capi:xts(aes)-plain64", "segments", "0", "encryption"),
	"constant IV (null)":        set("aes-xts-null", "segments", "0", "encryption"),
	"no IV (ecb)":               set("aes-ecb", "segments", "0", "encryption"),
	"cbc-essiv":                 set("aes-cbc-essiv:sha256", "segments", "0", "encryption"),
	"offset into keyslots area": set("32768", "segments", "0", "offset"),
	"offset unaligned":          set("16777472", "segments", "0", "offset"),
	"offset beyond 64 MiB":      set("137438953472", "segments", "0", "offset"),
	"offset not canonical":      set("016777216", "segments", "0", "offset"),
	"offset as number":          set(16777216, "segments", "0", "offset"),
	"iv_tweak 1":                set("1", "segments", "0", "iv_tweak"),
	"iv_tweak -1":               set("-1", "segments", "0", "iv_tweak"),
	"sector size 0":             set(0, "segments", "0", "sector_size"),
	"sector size 1024":          set(1024, "segments", "0", "sector_size"),
	"size 0":                    set("0", "segments", "0", "size"),
	"size unaligned":            set("1000", "segments", "0", "size"),
	"segment linear":            set("linear", "segments", "0", "type"),
	"segment integrity":         set(map[string]any{"type": "hmac(sha256)"}, "segments", "0", "integrity"),
	"segment flags":             set([]any{"backup-previous"}, "segments", "0", "flags"),
	"two segments":              func(j map[string]any) { disktest.Obj(j, "segments")["1"] = disktest.Obj(j, "segments", "0") },
	"no segments":               set(map[string]any{}, "segments"),
	"empty digest":              set("", "digests", "0", "digest"),
	"short digest":              set(b64(4), "digests", "0", "digest"),
	"over-long digest":          set(b64(64), "digests", "0", "digest"),
	"digest not base64":         set("!!!!", "digests", "0", "digest"),
	"digest sha1":               set("sha1", "digests", "0", "hash"),
	"digest iterations 1":       set(1, "digests", "0", "iterations"),
	"digest iterations absurd":  set(1<<40, "digests", "0", "iterations"),
	"digest salt short":         set(b64(4), "digests", "0", "salt"),
	"digest other segment":      set([]any{"7"}, "digests", "0", "segments"),
	"digest no keyslots":        set([]any{}, "digests", "0", "keyslots"),
	"digest unknown keyslot": func(j map[string]any) {
		o := disktest.Obj(j, "digests", "0")
		o["keyslots"] = append(o["keyslots"].([]any), "9")
	},
	"digest keyslot twice": func(j map[string]any) {
		o := disktest.Obj(j, "digests", "0")
		o["keyslots"] = append(o["keyslots"].([]any), "0")
	},
	"two digests":              func(j map[string]any) { disktest.Obj(j, "digests")["1"] = disktest.Obj(j, "digests", "0") },
	"no digests":               set(map[string]any{}, "digests"),
	"keyslot unbound":          func(j map[string]any) { disktest.Obj(j, "keyslots")["5"] = shiftedSlot(j, 1<<20) },
	"pbkdf2 iterations absurd": set(1<<40, "keyslots", "0", "kdf", "iterations"),
	"pbkdf2 iterations 2M":     set(2_000_000, "keyslots", "0", "kdf", "iterations"),
	"pbkdf2 iterations 999":    set(999, "keyslots", "0", "kdf", "iterations"),
	"pbkdf2 sha1":              set("sha1", "keyslots", "0", "kdf", "hash"),
	"pbkdf2 with time":         set(4, "keyslots", "0", "kdf", "time"),
	"kdf scrypt":               set("scrypt", "keyslots", "0", "kdf", "type"),
	"kdf salt empty":           set("", "keyslots", "0", "kdf", "salt"),
	"argon2 memory absurd":     set(argon(4, 1<<30, 1), "keyslots", "0", "kdf"),
	"argon2 time 0":            set(argon(0, 32768, 1), "keyslots", "0", "kdf"),
	"argon2 time absurd":       set(argon(1<<20, 32768, 1), "keyslots", "0", "kdf"),
	"argon2 cpus 0":            set(argon(4, 32768, 0), "keyslots", "0", "kdf"),
	"argon2 cpus 256":          set(argon(4, 32768, 256), "keyslots", "0", "kdf"),
	"argon2 with iterations": func(j map[string]any) {
		k := argon(4, 32768, 1)
		k["iterations"] = 1000
		set(k, "keyslots", "0", "kdf")(j)
	},
	"huge key size":                set(1<<20, "keyslots", "0", "key_size"),
	"key size 0":                   set(0, "keyslots", "0", "key_size"),
	"key size 32":                  set(32, "keyslots", "0", "key_size"),
	"area key size huge":           set(1<<31, "keyslots", "0", "area", "key_size"),
	"area cipher_null":             set("cipher_null-ecb", "keyslots", "0", "area", "encryption"),
	"area type":                    set("datashift", "keyslots", "0", "area", "type"),
	"area too small":               set("4096", "keyslots", "0", "area", "size"),
	"area unaligned":               set("33280", "keyslots", "0", "area", "offset"),
	"area in header":               set("0", "keyslots", "0", "area", "offset"),
	"area past keyslots region":    set("137438953472", "keyslots", "0", "area", "offset"),
	"overlapping keyslot areas":    func(j map[string]any) { addSlot(j, "3", shiftedSlot(j, 4096)) },
	"identical keyslot areas":      func(j map[string]any) { addSlot(j, "3", shiftedSlot(j, 0)) },
	"af stripes 1":                 set(1, "keyslots", "0", "af", "stripes"),
	"af sha1":                      set("sha1", "keyslots", "0", "af", "hash"),
	"keyslot type luks1":           set("luks1", "keyslots", "0", "type"),
	"keyslot priority 3":           set(3, "keyslots", "0", "priority"),
	"keyslot id not canonical":     func(j map[string]any) { renameSlot(j, "0", "00") },
	"keyslot id 32":                func(j map[string]any) { renameSlot(j, "0", "32") },
	"no keyslots":                  func(j map[string]any) { j["keyslots"] = map[string]any{}; set([]any{}, "digests", "0", "keyslots")(j) },
	"requirements":                 set(map[string]any{"mandatory": []any{"online-reencrypt"}}, "config", "requirements"),
	"requirements non-empty array": set([]any{"x"}, "config", "requirements"),
	"json_size wrong":              set("4096", "config", "json_size"),
	"keyslots_size unaligned":      set("1000", "config", "keyslots_size"),
	"keyslots_size past segment":   set("33554432", "config", "keyslots_size"),
	"token not an object":          set(map[string]any{"0": "key material"}, "tokens"),
	"token id not a number":        set(map[string]any{"x": map[string]any{"type": "t"}}, "tokens"),
	"no config":                    del("config"),
	"no tokens":                    del("tokens"),
	"unknown top-level member":     set(1, "reencrypt"),
	"unknown keyslot member":       set(1, "keyslots", "0", "extra"),
	"unknown af member":            set(1, "keyslots", "0", "af", "extra"),
	"unknown area member":          set(1, "keyslots", "0", "area", "extra"),
	"unknown kdf member":           set(1, "keyslots", "0", "kdf", "extra"),
	"unknown segment member":       set(1, "segments", "0", "extra"),
	"unknown digest member":        set(1, "digests", "0", "extra"),
	"unknown config member":        set(1, "config", "extra"),
}

func argon(t, mem, cpus int) map[string]any {
	return map[string]any{"type": "argon2id", "time": t, "memory": mem, "cpus": cpus, "salt": b64(32)}
}

// shiftedSlot is a copy of keyslot 0 whose area starts delta bytes later.
func shiftedSlot(j map[string]any, delta int) map[string]any {
	k := map[string]any{}
	for n, v := range disktest.Obj(j, "keyslots", "0") {
		k[n] = v
	}
	a := map[string]any{}
	for n, v := range disktest.Obj(j, "keyslots", "0", "area") {
		a[n] = v
	}
	o, _ := strconv.Atoi(a["offset"].(string))
	a["offset"] = strconv.Itoa(o + delta)
	k["area"] = a
	return k
}

// addSlot adds keyslot id, bound to the digest like a real one.
func addSlot(j map[string]any, id string, k map[string]any) {
	disktest.Obj(j, "keyslots")[id] = k
	d := disktest.Obj(j, "digests", "0")
	d["keyslots"] = append(d["keyslots"].([]any), id)
}

func renameSlot(j map[string]any, from, to string) {
	ks := disktest.Obj(j, "keyslots")
	ks[to] = ks[from]
	delete(ks, from)
	d := disktest.Obj(j, "digests", "0")
	for i, v := range d["keyslots"].([]any) {
		if v == from {
			d["keyslots"].([]any)[i] = to
		}
	}
}

// bases are the regions the attacks start from: the synthetic fixture and,
// with cryptsetup, a real image with three keyslots and a token.
func bases(t *testing.T) map[string][]byte {
	b := map[string][]byte{"fixture": disktest.Fixture(disktest.UUID, nil)}
	if testing.Short() {
		return b
	}
	img, dir := disktest.Image(t, append([]string{"--sector-size", "4096"}, pbkdf2Args...)...)
	addKeyslots(t, img, dir)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b["cryptsetup"] = raw[:16<<20]
	return b
}

func TestRefusesJSONAttacks(t *testing.T) {
	for bname, base := range bases(t) {
		if _, err := disk.CheckRegion(base, disktest.UUID); err != nil {
			t.Fatalf("%s: unmodified base refused: %v", bname, err)
		}
		for name, mutate := range jsonAttacks {
			t.Run(bname+"/"+name, func(t *testing.T) {
				region, err := disktest.Rewrite(base, mutate)
				if err != nil {
					t.Fatal(err)
				}
				_, err1 := disk.Check(region, disktest.UUID)
				_, err2 := disk.CheckRegion(region, disktest.UUID)
				t.Log(err2)
				if !errors.Is(err1, disk.ErrHeaderRejected) || !errors.Is(err2, disk.ErrHeaderRejected) {
					t.Errorf("Check = %v, CheckRegion = %v; want ErrHeaderRejected", err1, err2)
				}
			})
		}
	}
}

// rawAttacks edit the bytes of the region (binary header, JSON text).
var rawAttacks = map[string]func(r []byte) []byte{
	"magic":           func(r []byte) []byte { r[0] = 'X'; return r },
	"version 1":       func(r []byte) []byte { binary.BigEndian.PutUint16(r[6:], 1); disktest.Reseal(r); return r },
	"hdr_size 20000":  func(r []byte) []byte { binary.BigEndian.PutUint64(r[8:], 20000); return r },
	"hdr_size 8 MiB":  func(r []byte) []byte { binary.BigEndian.PutUint64(r[8:], 8<<20); return r },
	"hdr_offset":      func(r []byte) []byte { binary.BigEndian.PutUint64(r[256:], 4096); disktest.Reseal(r); return r },
	"checksum":        func(r []byte) []byte { r[4100] ^= 1; return r },
	"checksum alg":    func(r []byte) []byte { copy(r[72:], "sha1\x00\x00"); disktest.Reseal(r); return r },
	"checksum tail":   func(r []byte) []byte { r[448+40] = 1; return r },
	"uuid other":      func(r []byte) []byte { copy(r[168:], "11111111"); disktest.Reseal(r); return r },
	"uuid not a UUID": func(r []byte) []byte { clear(r[168:208]); disktest.Reseal(r); return r },
	"truncated":       func(r []byte) []byte { return r[:disktest.FixtureHdrSize-1] },
	"no NUL in JSON":  func(r []byte) []byte { return disktest.WithJSONText(r, bytes.Repeat([]byte(" "), 12288)) },
	"data after NUL": func(r []byte) []byte {
		t := disktest.JSONText(r)
		r = disktest.WithJSONText(r, t)
		r[4096+len(t)+5] = 'x'
		disktest.Reseal(r)
		return r
	},
	"two JSON objects": func(r []byte) []byte { t := disktest.JSONText(r); return disktest.WithJSONText(r, append(t, t...)) },
	"not JSON":         func(r []byte) []byte { return disktest.WithJSONText(r, []byte("{\"keyslots\":")) },
	"duplicate member": func(r []byte) []byte {
		t := bytes.Replace(disktest.JSONText(r), []byte(`"iv_tweak":"0"`), []byte(`"iv_tweak":"0","iv_tweak":"0"`), 1)
		return disktest.WithJSONText(r, t)
	},
	"duplicate member, other case": func(r []byte) []byte {
		t := bytes.Replace(disktest.JSONText(r), []byte(`"encryption":"aes-xts-plain64","iv_tweak"`),
			[]byte(`"encryption":"aes-xts-plain64","ENCRYPTION":"cipher_null-ecb","iv_tweak"`), 1)
		return disktest.WithJSONText(r, t)
	},
	"deep nesting": func(r []byte) []byte {
		t := bytes.Replace(disktest.JSONText(r), []byte(`"tokens":{}`),
			[]byte(`"tokens":{"0":{"a":`+string(bytes.Repeat([]byte("["), 40))+string(bytes.Repeat([]byte("]"), 40))+`}}`), 1)
		return disktest.WithJSONText(r, t)
	},
	"secondary differs": func(r []byte) []byte { r[disktest.FixtureHdrSize+4096] = ' '; disktest.Reseal(r); return r },
	"secondary magic":   func(r []byte) []byte { r[disktest.FixtureHdrSize] = 'X'; return r },
	"region too short":  func(r []byte) []byte { return r[:len(r)-512] },
}

func TestRefusesRawAttacks(t *testing.T) {
	for name, mutate := range rawAttacks {
		t.Run(name, func(t *testing.T) {
			region := mutate(disktest.Fixture(disktest.UUID, nil))
			_, err := disk.CheckRegion(region, disktest.UUID)
			t.Log(err)
			if !errors.Is(err, disk.ErrHeaderRejected) {
				t.Errorf("CheckRegion = %v, want ErrHeaderRejected", err)
			}
		})
	}
}
