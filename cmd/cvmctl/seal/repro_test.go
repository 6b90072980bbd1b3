package seal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestSealTwiceSameStructure: two seals of one input differ in their fresh
// values (key, LUKS UUID, salts, digests, verity root hash) and in nothing
// else: the same sizes, the same manifest and the same LUKS2 JSON metadata
// once those values are masked.
func TestSealTwiceSameStructure(t *testing.T) {
	needTools(t)
	in := makeTree(t)
	r1, _ := sealT(t, Options{Input: in})
	r2, _ := sealT(t, Options{Input: in})
	p1, p2 := readPayload(t, r1.Payload), readPayload(t, r2.Payload)
	m1, m2 := readManifest(t, r1.Manifest), readManifest(t, r2.Manifest)

	if bytes.Equal(p1.Key.Bytes(), p2.Key.Bytes()) || p1.LUKSUUID == p2.LUKSUUID || p1.HeaderSHA256 == p2.HeaderSHA256 ||
		m1.Verity.Salt == m2.Verity.Salt || m1.Verity.RootHash == m2.Verity.RootHash {
		t.Fatal("a fresh value repeats between two seals")
	}
	if m1.Sizes != m2.Sizes || m1.Input != m2.Input {
		t.Errorf("sizes or input differ: %+v %+v / %+v %+v", m1.Sizes, m1.Input, m2.Sizes, m2.Input)
	}
	if a, b := maskManifest(m1), maskManifest(m2); !reflect.DeepEqual(a, b) {
		t.Errorf("manifests differ beyond fresh values:\n%+v\n%+v", a, b)
	}
	j1, j2 := luksJSON(t, r1.Image), luksJSON(t, r2.Image)
	if !reflect.DeepEqual(j1, j2) {
		t.Errorf("LUKS2 metadata differs beyond fresh values:\n%v\n%v", j1, j2)
	}
}

func maskManifest(m Manifest) Manifest {
	m.LUKS.UUID, m.LUKS.HeaderSHA256 = "", ""
	m.Verity.Salt, m.Verity.RootHash = "", ""
	return m
}

// luksJSON is cryptsetup's dump of the LUKS2 JSON metadata with salts and
// digests masked.
func luksJSON(t *testing.T, img string) any {
	t.Helper()
	raw := cmd(t, toolPath(t, toolCryptsetup), "luksDump", "--disable-locks", "--dump-json-metadata", img)
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("luksDump JSON: %v", err)
	}
	masked := 0
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				if k == "salt" || k == "digest" {
					x[k] = "MASKED"
					masked++
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if masked != 3 { // keyslot salt, digest salt, digest
		t.Fatalf("masked %d values in the LUKS2 metadata, want 3", masked)
	}
	return v
}
