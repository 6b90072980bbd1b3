package kbs

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// ReportData returns the 64-byte REPORT_DATA that binds a session nonce and
// the guest's public key: SHA-384 of the RFC 8785 canonical JSON of
// {"additional-evidence":"","nonce":nonce,"tee-pubkey":key}, followed by 16
// zero bytes. This is how Trustee's attestation service recomputes it for
// SNP evidence with an empty additional_evidence.
func ReportData(nonce string, key JWK) ([64]byte, error) {
	var out [64]byte
	if err := checkJWK(key); err != nil {
		return out, fmt.Errorf("binding tee-pubkey: %w", err)
	}
	doc, err := canonicalRuntimeData(nonce, key)
	if err != nil {
		return out, fmt.Errorf("canonicalising runtime data: %w", err)
	}
	sum := sha512.Sum384(doc)
	copy(out[:], sum[:])
	return out, nil
}

// checkJWK accepts the two key shapes the protocol uses and nothing else.
func checkJWK(k JWK) error {
	switch k.Kty {
	case "EC":
		if k.Crv == "" || k.Alg == "" || k.X == "" || k.Y == "" || k.N != "" || k.E != "" {
			return errors.New("EC key needs exactly crv, alg, x and y")
		}
	case "RSA":
		if k.Alg == "" || k.N == "" || k.E == "" || k.Crv != "" || k.X != "" || k.Y != "" {
			return errors.New("RSA key needs exactly alg, n and e")
		}
	default:
		return fmt.Errorf("unsupported key type %q", k.Kty)
	}
	return nil
}

// canonicalRuntimeData writes the runtime-data document in RFC 8785 form.
// All its values are strings, so canonicalisation reduces to sorting the
// object keys and escaping strings minimally.
func canonicalRuntimeData(nonce string, key JWK) ([]byte, error) {
	var b strings.Builder
	b.WriteString(`{"additional-evidence":"","nonce":`)
	if err := writeCanonicalString(&b, nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	b.WriteString(`,"tee-pubkey":`)
	if err := writeCanonicalObject(&b, jwkMembers(key)); err != nil {
		return nil, fmt.Errorf("tee-pubkey: %w", err)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// jwkMembers lists a key's non-empty members, as serde would emit them.
func jwkMembers(k JWK) map[string]string {
	m := map[string]string{}
	for name, v := range map[string]string{
		"kty": k.Kty, "crv": k.Crv, "alg": k.Alg, "x": k.X, "y": k.Y, "n": k.N, "e": k.E,
	} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

// writeCanonicalObject writes a string-valued object with its keys in
// RFC 8785 order (UTF-16 code units; byte order for the ASCII keys used).
func writeCanonicalObject(b *strings.Builder, m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeCanonicalString(b, k); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := writeCanonicalString(b, m[k]); err != nil {
			return fmt.Errorf("member %q: %w", k, err)
		}
	}
	b.WriteByte('}')
	return nil
}

// writeCanonicalString quotes s as RFC 8785 §3.2.2.2 requires: only '"',
// '\\' and control characters are escaped, with the short forms where JSON
// has them and lower-case \u00xx otherwise.
func writeCanonicalString(b *strings.Builder, s string) error {
	if !utf8.ValidString(s) {
		return errors.New("string is not valid UTF-8")
	}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return nil
}
