package launch

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// GUIDs of the OVMF footer table and its entries (edk2 OvmfPkg/ResetVector,
// QEMU hw/i386/pc_sysfw_ovmf.c), in canonical text form.
const (
	footerGUID      = "96b582de-1fb2-45f7-baea-a366c55a082d"
	metadataGUID    = "dc886566-984a-4798-a75e-5585a7bf67cc"
	hashesTableGUID = "7255371f-3a3b-4b04-927b-1da6efa8d454"
	resetBlockGUID  = "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
)

// fourGiB is where the firmware image ends in guest physical memory.
const fourGiB = 1 << 32

// Footer table layout: the footer entry {u16 size, GUID} ends 32 bytes before
// the image's end; every entry is data ‖ u16 size ‖ GUID, size counting all three.
const (
	entryHeaderLen = 2 + 16
	footerEnd      = 32
)

// maxSectionBytes bounds the memory the SEV metadata may declare (sum of all
// section sizes), so a hostile image cannot make measuring take minutes.
const maxSectionBytes = 1 << 30

// SectionType is the kind of an OVMF SEV metadata section
// (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm).
type SectionType uint32

// Known section types.
const (
	SectionSNPSecMem    SectionType = 0x1  // pre-validated memory, measured as zero pages
	SectionSNPSecrets   SectionType = 0x2  // the SNP secrets page
	SectionCPUID        SectionType = 0x3  // the SNP CPUID page
	SectionSVSMCAA      SectionType = 0x4  // SVSM calling area, measured as zero pages
	SectionKernelHashes SectionType = 0x10 // page holding the kernel hashes table
)

// Section is one SEV metadata descriptor: {u32 GPA, u32 size, u32 type}.
type Section struct {
	GPA, Size uint32
	Type      SectionType
}

// OVMF is a parsed firmware image: its footer table and SEV metadata.
type OVMF struct {
	size     int
	table    map[string][]byte
	sections []Section
}

// ParseOVMF parses the footer table and SEV metadata of a whole firmware
// image, which must be a non-empty multiple of PageSize of at most 4 GiB.
// It never panics on arbitrary input.
func ParseOVMF(img []byte) (*OVMF, error) {
	if len(img) == 0 || len(img)%PageSize != 0 || uint64(len(img)) > fourGiB {
		return nil, fmt.Errorf("ovmf image of %d bytes: not a non-empty multiple of %d up to 4 GiB: %w",
			len(img), PageSize, ErrBadSize)
	}
	table, err := parseFooterTable(img)
	if err != nil {
		return nil, err
	}
	f := &OVMF{size: len(img), table: table}
	if f.sections, err = parseMetadata(img, table); err != nil {
		return nil, err
	}
	return f, nil
}

// GPA returns the guest physical address of the image's first byte.
func (f *OVMF) GPA() uint64 { return fourGiB - uint64(f.size) }

// Sections returns a copy of the SEV metadata sections in table order.
func (f *OVMF) Sections() []Section { return append([]Section(nil), f.sections...) }

// HasSection reports whether the SEV metadata declares a section of type t.
func (f *OVMF) HasSection(t SectionType) bool {
	for _, s := range f.sections {
		if s.Type == t {
			return true
		}
	}
	return false
}

// ResetEIP returns the APs' reset vector from the SEV-ES reset block entry.
func (f *OVMF) ResetEIP() (uint32, error) { return f.entryU32(resetBlockGUID, "SEV-ES reset block") }

// HashesTableGPA returns the address of the kernel hashes table (0 when the
// firmware reserves none).
func (f *OVMF) HashesTableGPA() (uint32, error) {
	return f.entryU32(hashesTableGUID, "SEV hashes table")
}

func (f *OVMF) entryU32(guid, what string) (uint32, error) {
	e, ok := f.table[guid]
	if !ok {
		return 0, fmt.Errorf("footer table has no %s entry: %w", what, ErrMalformedOVMF)
	}
	if len(e) < 4 {
		return 0, fmt.Errorf("%s entry holds %d bytes, want 4: %w", what, len(e), ErrMalformedOVMF)
	}
	return binary.LittleEndian.Uint32(e), nil
}

// parseFooterTable walks the footer table backwards from its footer entry.
// Duplicate GUIDs are refused: QEMU and sev-snp-measure would pick different ones.
func parseFooterTable(img []byte) (map[string][]byte, error) {
	if len(img) < footerEnd+entryHeaderLen {
		return nil, ErrNoFooter
	}
	start := len(img) - footerEnd - entryHeaderLen
	if efiGUIDString(img[start+2:start+entryHeaderLen]) != footerGUID {
		return nil, ErrNoFooter
	}
	full := int(binary.LittleEndian.Uint16(img[start:]))
	if full < entryHeaderLen || full-entryHeaderLen > start {
		return nil, fmt.Errorf("footer table size %d: %w", full, ErrMalformedOVMF)
	}
	tbl := img[start-(full-entryHeaderLen) : start]
	table := map[string][]byte{}
	for len(tbl) >= entryHeaderLen { // sev-snp-measure ignores a shorter remainder
		n := int(binary.LittleEndian.Uint16(tbl[len(tbl)-entryHeaderLen:]))
		guid := efiGUIDString(tbl[len(tbl)-16:])
		if n < entryHeaderLen || n > len(tbl) {
			return nil, fmt.Errorf("footer entry %s size %d: %w", guid, n, ErrMalformedOVMF)
		}
		if _, dup := table[guid]; dup {
			return nil, fmt.Errorf("footer entry %s appears twice: %w", guid, ErrMalformedOVMF)
		}
		table[guid] = tbl[len(tbl)-n : len(tbl)-entryHeaderLen]
		tbl = tbl[:len(tbl)-n]
	}
	return table, nil
}

// parseMetadata decodes the SEV metadata ("ASEV", u32 size, u32 version 1,
// u32 count, then count {gpa, size, type} triples) found at the offset from
// the image's end given by the metadata entry. No entry means no sections.
func parseMetadata(img []byte, table map[string][]byte) ([]Section, error) {
	e, ok := table[metadataGUID]
	if !ok {
		return nil, nil
	}
	if len(e) < 4 {
		return nil, fmt.Errorf("SEV metadata entry holds %d bytes: %w", len(e), ErrMalformedOVMF)
	}
	off := uint64(binary.LittleEndian.Uint32(e))
	if off > uint64(len(img)) || off < 16 {
		return nil, fmt.Errorf("SEV metadata offset %#x: %w", off, ErrMalformedOVMF)
	}
	md := img[uint64(len(img))-off:]
	size, version, count := le32(md[4:]), le32(md[8:]), uint64(le32(md[12:]))
	switch {
	case string(md[:4]) != "ASEV":
		return nil, fmt.Errorf("SEV metadata signature %q: %w", md[:4], ErrMalformedOVMF)
	case version != 1:
		return nil, fmt.Errorf("SEV metadata version %d: %w", version, ErrMalformedOVMF)
	case size < 16 || uint64(size) > off || count > (uint64(size)-16)/12:
		return nil, fmt.Errorf("SEV metadata size %d for %d sections: %w", size, count, ErrMalformedOVMF)
	}
	return parseSections(md[16:size], int(count))
}

func parseSections(b []byte, count int) ([]Section, error) {
	out := make([]Section, 0, count)
	var total uint64
	for i := range count {
		d := b[i*12:]
		s := Section{GPA: le32(d), Size: le32(d[4:]), Type: SectionType(le32(d[8:]))}
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("SEV metadata section %d: %w", i, err)
		}
		if total += uint64(s.Size); total > maxSectionBytes {
			return nil, fmt.Errorf("SEV metadata sections exceed %d bytes: %w", maxSectionBytes, ErrBadSize)
		}
		out = append(out, s)
	}
	return out, nil
}

func (s Section) check() error {
	switch s.Type {
	case SectionSNPSecMem, SectionSNPSecrets, SectionCPUID, SectionSVSMCAA, SectionKernelHashes:
	default:
		return fmt.Errorf("unknown type %#x: %w", uint32(s.Type), ErrMalformedOVMF)
	}
	if s.GPA%PageSize != 0 || s.Size%PageSize != 0 {
		return fmt.Errorf("type %#x at %#x size %#x not page aligned: %w", uint32(s.Type), s.GPA, s.Size, ErrBadSize)
	}
	return nil
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// efiGUIDString formats 16 bytes in EFI (mixed-endian) order as a GUID.
func efiGUIDString(b []byte) string {
	var c [16]byte
	copy(c[:], b)
	c[0], c[1], c[2], c[3] = c[3], c[2], c[1], c[0]
	c[4], c[5], c[6], c[7] = c[5], c[4], c[7], c[6]
	h := hex.EncodeToString(c[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// efiGUIDBytes is the inverse of efiGUIDString for well-formed GUID text.
func efiGUIDBytes(s string) [16]byte {
	var c [16]byte
	_, _ = hex.Decode(c[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:])) // constants only; tested
	c[0], c[1], c[2], c[3] = c[3], c[2], c[1], c[0]
	c[4], c[5], c[6], c[7] = c[5], c[4], c[7], c[6]
	return c
}
