package launch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// TestParseOVMFFixture checks the parser against the AmdSev tail's table,
// whose values were read by hand from its bytes (xxd at 0xaac and 0xf58..0xfe0).
func TestParseOVMFFixture(t *testing.T) {
	fw, err := ParseOVMF(fixture(t, amdSev))
	if err != nil {
		t.Fatal(err)
	}
	want := []Section{
		{0x800000, 0x9000, SectionSNPSecMem}, {0x80a000, 0x3000, SectionSNPSecMem},
		{0x80d000, 0x1000, SectionSNPSecrets}, {0x80e000, 0x1000, SectionCPUID},
		{0x80f000, 0x1000, SectionSVSMCAA}, {0x810000, 0x1000, SectionKernelHashes},
		{0x811000, 0xf000, SectionSNPSecMem},
	}
	if got := fw.Sections(); !reflect.DeepEqual(got, want) {
		t.Errorf("sections\n got %x\nwant %x", got, want)
	}
	if eip, err := fw.ResetEIP(); err != nil || eip != 0x80b004 {
		t.Errorf("ResetEIP = %#x, %v; want 0x80b004", eip, err)
	}
	if gpa, err := fw.HashesTableGPA(); err != nil || gpa != 0x810c00 {
		t.Errorf("HashesTableGPA = %#x, %v; want 0x810c00", gpa, err)
	}
	if fw.GPA() != 0xfffff000 {
		t.Errorf("GPA = %#x, want 0xfffff000", fw.GPA())
	}
}

// TestEFIGUID compares with the footer GUID bytes at 0xfd0 of the fixture.
func TestEFIGUID(t *testing.T) {
	want := []byte{0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d}
	if got := efiGUIDBytes(footerGUID); !bytes.Equal(got[:], want) {
		t.Errorf("efiGUIDBytes = %x, want %x", got, want)
	}
	if got := efiGUIDString(want); got != footerGUID {
		t.Errorf("efiGUIDString = %s", got)
	}
}

type tblEntry struct {
	guid string
	data []byte
}

func u32(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// image builds a one-page firmware with metadata md at offset 0 (so the
// metadata entry holds offset PageSize) and the given footer entries.
func image(md []byte, entries ...tblEntry) []byte {
	img := make([]byte, PageSize)
	copy(img, md)
	var tbl []byte
	for _, e := range entries {
		g := efiGUIDBytes(e.guid)
		tbl = append(tbl, e.data...)
		tbl = binary.LittleEndian.AppendUint16(tbl, uint16(len(e.data)+entryHeaderLen))
		tbl = append(tbl, g[:]...)
	}
	g := efiGUIDBytes(footerGUID)
	tbl = binary.LittleEndian.AppendUint16(tbl, uint16(len(tbl)+entryHeaderLen))
	tbl = append(tbl, g[:]...)
	copy(img[PageSize-footerEnd-len(tbl):], tbl)
	return img
}

func metadata(sections ...[3]uint32) []byte {
	md := append([]byte("ASEV"), u32(uint32(16+12*len(sections)), 1, uint32(len(sections)))...)
	for _, s := range sections {
		md = append(md, u32(s[0], s[1], s[2])...)
	}
	return md
}

func TestParseOVMFErrors(t *testing.T) {
	md := tblEntry{metadataGUID, u32(PageSize)}
	reset := tblEntry{resetBlockGUID, u32(0x80b004)}
	dup := image(metadata(), md, reset, reset)
	badFooterSize := image(nil, reset)
	binary.LittleEndian.PutUint16(badFooterSize[PageSize-footerEnd-entryHeaderLen:], 0xffff)
	badEntrySize := image(nil, reset)
	binary.LittleEndian.PutUint16(badEntrySize[PageSize-footerEnd-2*entryHeaderLen:], 3)
	cases := []struct {
		name string
		img  []byte
		want error
	}{
		{"empty", nil, ErrBadSize},
		{"unaligned", make([]byte, PageSize+1), ErrBadSize},
		{"no footer", make([]byte, PageSize), ErrNoFooter},
		{"footer size", badFooterSize, ErrMalformedOVMF},
		{"entry size", badEntrySize, ErrMalformedOVMF},
		{"duplicate guid", dup, ErrMalformedOVMF},
		{"short metadata entry", image(nil, tblEntry{metadataGUID, []byte{1}}), ErrMalformedOVMF},
		{"metadata offset", image(nil, tblEntry{metadataGUID, u32(PageSize + 1)}), ErrMalformedOVMF},
		{"signature", image([]byte("XSEV\x10\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"), md), ErrMalformedOVMF},
		{"version", image(append([]byte("ASEV"), u32(16, 2, 0)...), md), ErrMalformedOVMF},
		{"count", image(append([]byte("ASEV"), u32(16, 1, 1)...), md), ErrMalformedOVMF},
		{"section type", image(metadata([3]uint32{0x800000, 0x1000, 7}), md), ErrMalformedOVMF},
		{"section align", image(metadata([3]uint32{0x800010, 0x1000, 1}), md), ErrBadSize},
		{"section total", image(metadata([3]uint32{0, 0x80000000, 1}), md), ErrBadSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseOVMF(c.img)
			t.Log(err)
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestDigestErrors covers option checks and firmware facts Digest needs.
func TestDigestErrors(t *testing.T) {
	md := tblEntry{metadataGUID, u32(PageSize)}
	hashes := metadata([3]uint32{0x810000, 0x1000, 0x10})
	good := Options{OVMF: fixture(t, amdSev), VCPUs: 1, VMM: VMMQEMU, GuestFeatures: 0x21}
	with := func(f func(*Options)) Options { o := good; f(&o); return o }
	cases := []struct {
		name string
		o    Options
		want error
	}{
		{"vmm", with(func(o *Options) { o.VMM = "xen" }), ErrBadOption},
		{"no vmm", with(func(o *Options) { o.VMM = "" }), ErrBadOption},
		{"zero vcpus", with(func(o *Options) { o.VCPUs = 0 }), ErrBadSize},
		{"too many vcpus", with(func(o *Options) { o.VCPUs = MaxVCPUs + 1 }), ErrBadSize},
		{"seed length", with(func(o *Options) { o.OVMFHash = make([]byte, 47) }), ErrBadSize},
		{"no ovmf", with(func(o *Options) { o.OVMF = nil }), ErrBadSize},
		{"no reset block", with(func(o *Options) { o.OVMF = image(metadata(), md) }), ErrMalformedOVMF},
		{"ap eip 0", with(func(o *Options) {
			o.OVMF, o.VCPUs = image(metadata(), md, tblEntry{resetBlockGUID, u32(0)}), 2
		}), ErrMalformedOVMF},
		{"no hashes table entry", with(func(o *Options) {
			o.OVMF, o.Kernel = image(hashes, md, tblEntry{resetBlockGUID, u32(0x80b004)}), &Kernel{}
		}), ErrMalformedOVMF},
		{"hashes table crosses page", with(func(o *Options) {
			o.OVMF = image(hashes, md, tblEntry{resetBlockGUID, u32(0x80b004)}, tblEntry{hashesTableGUID, u32(0x810f80)})
			o.Kernel = &Kernel{}
		}), ErrMalformedOVMF},
		{"hashes section size", with(func(o *Options) {
			o.OVMF = image(metadata([3]uint32{0x810000, 0x2000, 0x10}), md, tblEntry{resetBlockGUID, u32(0x80b004)},
				tblEntry{hashesTableGUID, u32(0x810c00)})
			o.Kernel = &Kernel{}
		}), ErrBadSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Digest(c.o)
			t.Log(err)
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// FuzzParseOVMF feeds arbitrary bytes, right-aligned in whole pages like a
// firmware image, to the footer and metadata parsers and, when they accept
// them, to Digest. It must never panic.
func FuzzParseOVMF(f *testing.F) {
	f.Add(fixture(f, amdSev))
	f.Add(fixture(f, ovmfX64))
	f.Add(image(metadata([3]uint32{0x810000, 0x1000, 0x10}), tblEntry{metadataGUID, u32(PageSize)},
		tblEntry{resetBlockGUID, u32(0x80b004)}, tblEntry{hashesTableGUID, u32(0x810c00)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		img := make([]byte, (len(in)+PageSize-1)/PageSize*PageSize)
		copy(img[len(img)-len(in):], in)
		fw, err := ParseOVMF(img)
		if err != nil {
			return
		}
		_, _ = fw.ResetEIP()
		_, _ = fw.HashesTableGPA()
		var total uint64
		for _, s := range fw.Sections() {
			total += uint64(s.Size)
		}
		if total > 4<<20 {
			return // valid but slow to measure; the parser is what is fuzzed
		}
		_, _ = Digest(Options{OVMF: img, VCPUs: 2, VMM: VMMGCE, Kernel: &Kernel{Cmdline: "x"}})
	})
}
