package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
)

// ErrBadInit reports an init binary the guest kernel cannot run as PID 1 of
// an initramfs that has no dynamic loader or libraries.
var ErrBadInit = errors.New("init is not a static x86-64 executable")

// CheckInit checks that b is a 64-bit x86 ELF executable without a program
// interpreter (PT_INTERP), i.e. statically linked; a dynamic /init makes the
// kernel panic right after unpacking the initramfs.
func CheckInit(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadInit, err)
	}
	defer f.Close()
	switch {
	case f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64:
		return fmt.Errorf("%w: %v %v", ErrBadInit, f.Class, f.Machine)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("%w: ELF type %v", ErrBadInit, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: dynamically linked (has PT_INTERP)", ErrBadInit)
		}
	}
	return nil
}
