package kbs

import (
	"bytes"
	"math"
)

// This file is a fast path for decoding the JSON this protocol's clients
// write (the Go client here and Trustee's Rust clients alike): one pass, no
// reflection. It handles only the canonical form: every member spelt exactly
// and present at most once, all of a type's members present, strings of
// printable ASCII without escapes, plain unsigned integers in range, null
// only where a pointer takes it. On anything else, valid or not, it gives up
// and the caller decodes with encoding/json instead, so what is accepted and
// refused, and with which error, is decided exactly as without it. Whatever
// it does accept, encoding/json decodes to the same values (fuzz-tested
// against it).

// scanner reads canonical JSON from b. Once off is set, the input has left
// the canonical form and the results are meaningless.
type scanner struct {
	b   []byte
	i   int
	off bool
}

// next skips whitespace and returns the next byte (0 at the end).
func (s *scanner) next() byte {
	if s.i = skipSpace(s.b, s.i); s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// try consumes c if it comes next.
func (s *scanner) try(c byte) bool {
	if !s.off && s.next() == c {
		s.i++
		return true
	}
	return false
}

// want consumes c, or leaves the canonical form.
func (s *scanner) want(c byte) {
	if !s.try(c) {
		s.off = true
	}
}

// end reports whether the whole input was one canonical value.
func (s *scanner) end() bool {
	s.next()
	return !s.off && s.i == len(s.b)
}

// raw returns the bytes of a string (without quotes).
func (s *scanner) raw() []byte {
	s.want('"')
	start := s.i
	for !s.off && s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1]
		case c < 0x20 || c > 0x7e || c == '\\':
			s.off = true
		}
		s.i++
	}
	s.off = true
	return nil
}

func (s *scanner) str() string { return string(s.raw()) }

// uint reads a non-negative integer no larger than max.
func (s *scanner) uint(max uint64) uint64 {
	s.next()
	start := s.i
	var v uint64
	for ; !s.off && s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9'; s.i++ {
		d := uint64(s.b[s.i] - '0')
		if v > (max-d)/10 {
			s.off = true
		}
		v = v*10 + d
	}
	n := s.i - start
	if n == 0 || n > 1 && s.b[start] == '0' {
		s.off = true
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.off = true
	}
	return v
}

func (s *scanner) u8() uint8   { return uint8(s.uint(math.MaxUint8)) }
func (s *scanner) u32() uint32 { return uint32(s.uint(math.MaxUint32)) }
func (s *scanner) u64() uint64 { return s.uint(math.MaxUint64) }

// null consumes a null literal if it comes next.
func (s *scanner) null() bool {
	if !s.off && s.next() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

func (s *scanner) optU8() *uint8 {
	if s.null() {
		return nil
	}
	v := s.u8()
	return &v
}

func (s *scanner) optU64() *uint64 {
	if s.null() {
		return nil
	}
	v := s.u64()
	return &v
}

// object reads an object, calling member for each key with the scanner at
// its value. member returns the key's bit in seen, or -1 for an unknown
// key; repeated keys and missing required ones leave the canonical form.
func (s *scanner) object(required uint64, member func(key []byte) int) {
	s.want('{')
	var seen uint64
	if !s.try('}') {
		for !s.off {
			key := s.raw()
			s.want(':')
			if s.off {
				return
			}
			bit := member(key)
			if bit < 0 || seen&(1<<bit) != 0 {
				s.off = true
				return
			}
			seen |= 1 << bit
			if !s.try(',') {
				s.want('}')
				break
			}
		}
	}
	if seen&required != required {
		s.off = true
	}
}

// octets reads an array of integers 0..255 (the bulk of the evidence, so
// one tight loop rather than the general methods).
func (s *scanner) octets() byteArray {
	s.want('[')
	if s.off {
		return nil
	}
	b, i := s.b, s.i
	n := 0
	if end := bytes.IndexByte(b[i:], ']'); end > 0 {
		n = bytes.Count(b[i:i+end], []byte{','}) + 1
	}
	out := make(byteArray, 0, n)
	if i = skipSpace(b, i); i < len(b) && b[i] == ']' {
		s.i = i + 1
		return out
	}
	for {
		i = skipSpace(b, i)
		start, v := i, 0
		for ; i < len(b) && b[i]-'0' <= 9 && i-start < 4; i++ {
			v = v*10 + int(b[i]-'0')
		}
		digits := i - start
		if digits == 0 || v > 255 || digits > 1 && b[start] == '0' ||
			i < len(b) && (b[i]-'0' <= 9 || b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
			s.off = true
			return nil
		}
		out = append(out, byte(v))
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == ']' {
			s.i = i + 1
			return out
		}
		s.off = true
		return nil
	}
}

// skipSpace returns the index of the first non-whitespace byte from i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
