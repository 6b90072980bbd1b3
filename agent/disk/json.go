package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The structs below list every member cryptsetup 2.x writes in LUKS2 JSON
// metadata (LUKS2 On-Disk Format Specification, section 3; checked against
// `cryptsetup luksDump --dump-json-metadata`). Decoding refuses any other
// member at every level, except inside tokens, which are kept opaque.

type metadataJSON struct {
	Keyslots map[string]keyslotJSON     `json:"keyslots"`
	Tokens   map[string]json.RawMessage `json:"tokens"`
	Segments map[string]segmentJSON     `json:"segments"`
	Digests  map[string]digestJSON      `json:"digests"`
	Config   *configJSON                `json:"config"`
}

type keyslotJSON struct {
	Type     string   `json:"type"`
	KeySize  int64    `json:"key_size"`
	AF       afJSON   `json:"af"`
	Area     areaJSON `json:"area"`
	KDF      kdfJSON  `json:"kdf"`
	Priority *int64   `json:"priority"`
}

type afJSON struct {
	Type    string `json:"type"`
	Stripes int64  `json:"stripes"`
	Hash    string `json:"hash"`
}

type areaJSON struct {
	Type       string `json:"type"`
	Offset     string `json:"offset"`
	Size       string `json:"size"`
	Encryption string `json:"encryption"`
	KeySize    int64  `json:"key_size"`
}

// kdfJSON holds both KDF shapes: pbkdf2 {type, hash, iterations, salt} and
// argon2i/argon2id {type, time, memory, cpus, salt}; the members of the
// other shape must be absent (checked in checkKDF).
type kdfJSON struct {
	Type       string  `json:"type"`
	Hash       *string `json:"hash"`
	Iterations *int64  `json:"iterations"`
	Time       *int64  `json:"time"`
	Memory     *int64  `json:"memory"` // KiB
	CPUs       *int64  `json:"cpus"`
	Salt       string  `json:"salt"`
}

type segmentJSON struct {
	Type       string           `json:"type"`
	Offset     string           `json:"offset"`
	Size       string           `json:"size"`
	IVTweak    string           `json:"iv_tweak"`
	Encryption string           `json:"encryption"`
	SectorSize int64            `json:"sector_size"`
	Integrity  *json.RawMessage `json:"integrity"`
	Flags      *json.RawMessage `json:"flags"`
}

type digestJSON struct {
	Type       string   `json:"type"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
	Hash       string   `json:"hash"`
	Iterations int64    `json:"iterations"`
	Salt       string   `json:"salt"`
	Digest     string   `json:"digest"`
}

type configJSON struct {
	JSONSize     string           `json:"json_size"`
	KeyslotsSize string           `json:"keyslots_size"`
	Flags        []string         `json:"flags"` // ignored: dm flags come from the measured config
	Requirements *json.RawMessage `json:"requirements"`
}

// decodeJSON decodes the NUL-terminated JSON area: one object, no unknown
// member at any level, no duplicate member (compared case-insensitively, as
// encoding/json matches names), nothing after it but NUL bytes.
func decodeJSON(area []byte) (*metadataJSON, error) {
	n := bytes.IndexByte(area, 0)
	if n < 0 {
		return nil, rejectf("JSON area not NUL-terminated")
	}
	if !allZero(area[n:]) {
		return nil, rejectf("JSON area has data after its terminating NUL")
	}
	text := area[:n]
	if err := checkDuplicateKeys(text); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var m metadataJSON
	if err := dec.Decode(&m); err != nil {
		return nil, rejectf("JSON area: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, rejectf("JSON area: data after the metadata object")
	}
	if m.Keyslots == nil || m.Tokens == nil || m.Segments == nil || m.Digests == nil || m.Config == nil {
		return nil, rejectf("JSON area: keyslots, tokens, segments, digests and config are all required")
	}
	return &m, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// checkDuplicateKeys walks the JSON text and refuses an object with two
// members whose names are equal ignoring case: encoding/json keeps the last
// one silently, so a duplicate could show the guard one value and another
// reader a different one.
func checkDuplicateKeys(text []byte) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	type frame struct {
		obj    bool
		keys   map[string]bool
		expKey bool
	}
	var stack []*frame
	for depth := 0; ; {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return rejectf("JSON area: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if depth++; depth > 32 {
					return rejectf("JSON area nested deeper than 32 levels")
				}
				if top != nil && top.obj {
					top.expKey = true
				}
				stack = append(stack, &frame{obj: t == '{', keys: map[string]bool{}, expKey: t == '{'})
			default:
				depth--
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.expKey {
				k := strings.ToLower(t)
				if top.keys[k] {
					return rejectf("JSON area: duplicate member %q", t)
				}
				top.keys[k] = true
				top.expKey = false
				continue
			}
			if top != nil && top.obj {
				top.expKey = true
			}
		default:
			if top != nil && top.obj {
				top.expKey = true
			}
		}
	}
}

// isObject reports whether raw is a JSON object (tokens are kept opaque).
func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}
