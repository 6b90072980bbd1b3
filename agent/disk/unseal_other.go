//go:build !linux

package disk

import "errors"

// ErrWrongKey: no keyslot of a validated header opens with the key.
var ErrWrongKey = errors.New("no keyslot opens with the key")

// CheckKey needs luks.go, which builds on Linux only.
func CheckKey(*Metadata, []byte, string) error {
	return errors.New("LUKS2 key check: not supported on this platform")
}
