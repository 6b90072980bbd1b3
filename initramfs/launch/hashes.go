package launch

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// GUIDs of QEMU's SEV hashes table (target/i386/sev.c), canonical text form.
const (
	hashesHeaderGUID = "9438d606-4f22-4cc9-b479-a793d411fd21"
	cmdlineEntryGUID = "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"
	initrdEntryGUID  = "44baf731-3a2f-4bd7-9af1-41e29169781d"
	kernelEntryGUID  = "4de79437-abd2-427f-b835-d5b172d2045b"
)

// Hashes table layout (QEMU's SevHashTable, packed, little-endian):
//
//	0x00 header GUID, 0x10 u16 length (168),
//	0x12 cmdline entry, 0x44 initrd entry, 0x76 kernel entry,
//	each entry {GUID, u16 50, SHA-256[32]}; the table is zero-padded to 176.
const (
	hashEntryLen     = 16 + 2 + sha256.Size
	hashesTableLen   = 16 + 2 + 3*hashEntryLen
	hashesTablePadTo = (hashesTableLen + 15) &^ 15
)

// hashesTable builds the table QEMU writes for a direct-boot kernel. The
// command line is hashed as UTF-8 plus a terminating NUL.
func hashesTable(k *Kernel) [hashesTablePadTo]byte {
	var t [hashesTablePadTo]byte
	h := efiGUIDBytes(hashesHeaderGUID)
	copy(t[:], h[:])
	binary.LittleEndian.PutUint16(t[16:], hashesTableLen)
	entries := []struct {
		guid string
		sum  [32]byte
	}{
		{cmdlineEntryGUID, sha256.Sum256(append([]byte(k.Cmdline), 0))},
		{initrdEntryGUID, sha256.Sum256(k.Initrd)},
		{kernelEntryGUID, sha256.Sum256(k.Kernel)},
	}
	for i, e := range entries {
		off := 18 + i*hashEntryLen
		g := efiGUIDBytes(e.guid)
		copy(t[off:], g[:])
		binary.LittleEndian.PutUint16(t[off+16:], hashEntryLen)
		copy(t[off+18:], e.sum[:])
	}
	return t
}

// hashesPage returns the page holding the hashes table at the offset of
// tableGPA within its page.
func hashesPage(k *Kernel, tableGPA uint32) ([]byte, error) {
	off := int(tableGPA % PageSize)
	if off+hashesTablePadTo > PageSize {
		return nil, fmt.Errorf("hashes table at %#x crosses its page: %w", tableGPA, ErrMalformedOVMF)
	}
	page := make([]byte, PageSize)
	t := hashesTable(k)
	copy(page[off:], t[:])
	return page, nil
}
