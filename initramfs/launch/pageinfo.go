package launch

import (
	"crypto/sha512"
	"encoding/binary"
)

// PageSize is the granule of SNP_LAUNCH_UPDATE.
const PageSize = 4096

// Page types of the PAGE_INFO structure (AMD SEV-SNP ABI, PAGE_TYPE).
const (
	pageNormal     = 0x01
	pageVMSA       = 0x02
	pageZero       = 0x03
	pageUnmeasured = 0x04
	pageSecrets    = 0x05
	pageCPUID      = 0x06
)

// vmsaGPA is where VMSA pages are recorded: GPA (u64)(-1), page aligned with
// the bits above 51 cleared.
const vmsaGPA = 0xFFFFFFFFF000

// pageInfoLen is the size of PAGE_INFO (AMD SEV-SNP ABI, "PAGE_INFO" table):
//
//	0x00 DIGEST_CUR[48]  0x30 CONTENTS[48]  0x60 LENGTH u16  0x62 PAGE_TYPE u8
//	0x63 IMI_PAGE u8     0x64 VMPL3_PERMS   0x65 VMPL2_PERMS  0x66 VMPL1_PERMS
//	0x67 reserved        0x68 GPA u64
const pageInfoLen = 0x70

// gctx is the running launch digest of a guest context.
type gctx struct {
	ld [48]byte
}

// update folds one PAGE_INFO into the digest.
func (g *gctx) update(pageType byte, gpa uint64, contents *[48]byte) {
	var pi [pageInfoLen]byte
	copy(pi[0x00:0x30], g.ld[:])
	copy(pi[0x30:0x60], contents[:])
	binary.LittleEndian.PutUint16(pi[0x60:], pageInfoLen)
	pi[0x62] = pageType
	binary.LittleEndian.PutUint64(pi[0x68:], gpa)
	g.ld = sha512.Sum384(pi[:])
}

// normalPages measures data (a multiple of PageSize) as normal pages from gpa on.
func (g *gctx) normalPages(gpa uint64, data []byte) {
	for off := 0; off+PageSize <= len(data); off += PageSize {
		h := sha512.Sum384(data[off : off+PageSize])
		g.update(pageNormal, gpa+uint64(off), &h)
	}
}

// typedPages measures size bytes (a multiple of PageSize) of contentless
// pages (zero or unmeasured) from gpa on.
func (g *gctx) typedPages(pageType byte, gpa, size uint64) {
	var zero [48]byte
	for off := uint64(0); off < size; off += PageSize {
		g.update(pageType, gpa+off, &zero)
	}
}

// vmsaPage measures one VMSA page given its SHA-384.
func (g *gctx) vmsaPage(hash *[48]byte) { g.update(pageVMSA, vmsaGPA, hash) }
