// Package secret holds key material in a zeroable, best-effort locked buffer
// that refuses to reveal its content through fmt, encoding/json or log/slog.
//
// It is hand-written because no well-kept library offers exactly this: Go has
// no standard "secret bytes" type, and the alternatives (memguard and friends)
// bring guard pages, finalizers and global state that a small PID 1 in an
// initramfs does not want. What this package promises is modest and stated
// plainly: the bytes live in one heap slice that the garbage collector does
// not move, the pages holding it are mlock'ed where the platform allows (so
// they are not swapped out), and Wipe overwrites them with zeros. Copies that
// callers make with Bytes() are theirs to wipe.
package secret

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Buffer is a fixed-size byte buffer for key material. The zero value and a
// nil *Buffer are valid, empty buffers. Pass *Buffer around; the bytes sit
// behind a pointer so that even a struct copy printed with %v shows only an
// address, and Wipe on any copy wipes the one shared backing array.
type Buffer struct {
	p *[]byte
}

// New returns a zeroed buffer of n bytes (n < 0 is treated as 0). Its memory
// is locked against swapping where the platform allows it.
func New(n int) *Buffer {
	if n < 0 {
		n = 0
	}
	b := make([]byte, n)
	lock(b)
	return &Buffer{p: &b}
}

// FromBytes copies b into a new Buffer and then zeroes b, so that the caller's
// copy of the secret does not outlive the hand-over.
func FromBytes(b []byte) *Buffer {
	buf := New(len(b))
	copy(buf.Bytes(), b)
	clear(b)
	return buf
}

// Bytes returns the buffer's backing slice (not a copy): writes through it
// change the secret, and Wipe zeroes what it shows. It is nil after Wipe.
func (s *Buffer) Bytes() []byte {
	if s == nil || s.p == nil {
		return nil
	}
	return *s.p
}

// Len returns the length of the secret in bytes; 0 after Wipe.
func (s *Buffer) Len() int {
	return len(s.Bytes())
}

// Wipe overwrites the secret with zeros and forgets it. It is idempotent and
// safe on a nil *Buffer.
func (s *Buffer) Wipe() {
	b := s.Bytes()
	if b == nil {
		return
	}
	clear(b[:cap(b)])
	*s.p = nil
}

// String describes the buffer without revealing it: "secret(32 bytes)".
func (s *Buffer) String() string {
	return "secret(" + strconv.Itoa(s.Len()) + " bytes)"
}

// GoString implements fmt.GoStringer so %#v does not reveal the content.
func (s *Buffer) GoString() string { return s.String() }

// Format implements fmt.Formatter: every verb (%v, %s, %x, %q, %d, ...)
// prints the same redacted description.
func (s *Buffer) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON encodes the redacted description as a JSON string.
func (s *Buffer) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(s.String())), nil
}

// MarshalText encodes the redacted description, for text-based encoders.
func (s *Buffer) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// LogValue implements slog.LogValuer so loggers print only the description.
func (s *Buffer) LogValue() slog.Value {
	return slog.StringValue(s.String())
}
