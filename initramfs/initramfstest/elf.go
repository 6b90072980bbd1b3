// Package initramfstest makes the small ELF files the initramfs tests need:
// kernel-module-shaped relocatable objects with a .modinfo section, and
// static or dynamic executables. They are laid out by hand from the System V
// gABI (ELF-64 header, section and program header tables), so tests need
// neither gcc nor a real kernel tree.
package initramfstest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Sizes of the ELF-64 structures (gABI, "ELF Header", "Section Header",
// "Program Header").
const (
	ehdrSize = 64
	shdrSize = 64
	phdrSize = 56
)

// Modinfo returns the .modinfo section bytes for the given key=value
// strings, each NUL-terminated as the kernel's __MODULE_INFO emits them.
func Modinfo(kv ...string) []byte {
	var b bytes.Buffer
	for _, s := range kv {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// Module returns an x86-64 ET_REL object with a .modinfo section holding
// name=, vermagic= (release followed by the usual flags) and depends=.
func Module(name, release string, depends ...string) []byte {
	return ModuleWithModinfo(Modinfo(
		"license=GPL",
		"depends="+strings.Join(depends, ","),
		"name="+name,
		"vermagic="+release+" SMP preempt mod_unload modversions ",
	))
}

// ModuleWithModinfo returns an x86-64 ET_REL object whose .modinfo section
// holds exactly modinfo. Layout: header, .modinfo, .shstrtab, section headers
// [null, .modinfo, .shstrtab].
func ModuleWithModinfo(modinfo []byte) []byte {
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	infoOff := uint64(ehdrSize)
	strOff := infoOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	write(&b, header(elf.ET_REL, 0, 0, 0, shOff, 3))
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	write(&b, elf.Section64{})
	write(&b, elf.Section64{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC),
		Off: infoOff, Size: uint64(len(modinfo)), Addralign: 1})
	write(&b, elf.Section64{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff,
		Size: uint64(len(shstr)), Addralign: 1})
	return b.Bytes()
}

// Executable returns an x86-64 ET_EXEC image with one PT_LOAD segment and, if
// interp is not empty, a PT_INTERP segment naming it (a dynamic executable).
func Executable(interp string) []byte {
	nph := uint16(1)
	if interp != "" {
		nph = 2
	}
	dataOff := uint64(ehdrSize + int(nph)*phdrSize)
	var b bytes.Buffer
	write(&b, header(elf.ET_EXEC, 0x401000, ehdrSize, nph, 0, 0))
	if interp != "" {
		write(&b, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: dataOff,
			Vaddr: 0x400000 + dataOff, Filesz: uint64(len(interp) + 1), Memsz: uint64(len(interp) + 1), Align: 1})
	}
	write(&b, elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: 0x400000,
		Paddr: 0x400000, Filesz: dataOff, Memsz: dataOff, Align: 0x1000})
	if interp != "" {
		b.WriteString(interp + "\x00")
	}
	return b.Bytes()
}

func header(typ elf.Type, entry, phoff uint64, phnum uint16, shoff uint64, shnum uint16) elf.Header64 {
	h := elf.Header64{
		Type: uint16(typ), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: entry, Phoff: phoff, Phnum: phnum, Shoff: shoff, Ehsize: ehdrSize, Shnum: shnum,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	if phoff != 0 {
		h.Phentsize = phdrSize
	}
	if shnum != 0 {
		h.Shentsize = shdrSize
		h.Shstrndx = shnum - 1
	}
	return h
}

func write(b *bytes.Buffer, v any) {
	if err := binary.Write(b, binary.LittleEndian, v); err != nil {
		panic(err) // fixed-size structs into a buffer cannot fail
	}
}

// WriteTree writes files (path relative to dir -> contents) under dir,
// creating directories, and fails the test on error.
func WriteTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
