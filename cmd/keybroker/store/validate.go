package store

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// MeasurementLen is the length in hex digits of a launch measurement (SHA-384).
const MeasurementLen = 96

const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

// ValidatePath accepts exactly "repository/type/tag" with three non-empty
// segments of letters, digits, '-', '_' and '.', none of them "." or "..".
// It is the KBS resource path rule, and keeps every secret file inside the store.
func ValidatePath(path string) error {
	parts := strings.Split(path, "/")
	if len(parts) != 3 {
		return fmt.Errorf("%w %q: want repository/type/tag", ErrBadPath, path)
	}
	for _, s := range parts {
		if s == "" || s == "." || s == ".." || strings.Trim(s, safeChars) != "" {
			return fmt.Errorf("%w %q: bad segment %q", ErrBadPath, path, s)
		}
	}
	return nil
}

// NormalizeMeasurement checks that m is 96 hex digits and returns it in lower case.
func NormalizeMeasurement(m string) (string, error) {
	if len(m) != MeasurementLen {
		return "", fmt.Errorf("%w %q: want %d hex digits, got %d", ErrBadMeasurement, short(m), MeasurementLen, len(m))
	}
	if _, err := hex.DecodeString(m); err != nil {
		return "", fmt.Errorf("%w %q: not hex", ErrBadMeasurement, short(m))
	}
	return strings.ToLower(m), nil
}

// normalizeAll normalizes a list of measurements and refuses duplicates.
func normalizeAll(ms []string) ([]string, error) {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		n, err := NormalizeMeasurement(m)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%w: %s given twice", ErrBadMeasurement, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkSecret refuses an empty or oversized secret.
func checkSecret(b []byte) error {
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: empty", ErrBadSecret)
	case len(b) > MaxSecret:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrBadSecret, len(b), MaxSecret)
	}
	return nil
}

// short keeps error messages about garbage input to one short line.
func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
