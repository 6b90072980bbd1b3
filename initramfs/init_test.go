package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"testing"

	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

func TestCheckInit(t *testing.T) {
	i386 := initramfstest.Executable("")
	i386 = bytes.Clone(i386)
	i386[18] = byte(elf.EM_386) // e_machine at offset 18 (gABI ELF header)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"static", initramfstest.Executable(""), true},
		{"dynamic", initramfstest.Executable("/lib64/ld-linux-x86-64.so.2"), false},
		{"relocatable", initramfstest.Module("a", "r"), false},
		{"other machine", i386, false},
		{"not ELF", []byte("#!/bin/sh\n"), false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckInit(tc.in)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadInit)) {
				t.Fatalf("CheckInit = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
