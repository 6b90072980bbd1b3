package emu

import (
	"encoding/binary"
	"fmt"

	"github.com/cvminit/cvminit/agent/snp"
)

// certGUIDs returns the GUIDs of the SNP extended-report certificate table
// (GHCB specification, MSG_REPORT_REQ) for VCEK 63da758d-e664-4564-adc5-f4b93be8accd,
// ASK 4ab7b379-bbac-4fe4-a02f-05aef327c782 and ARK c0b406a4-a803-4952-9743-3fb6014cd0ae,
// in the byte order go-sev-guest's abi.CertTable reads them (RFC 4122, most
// significant byte first).
func certGUIDs() (vcek, ask, ark [16]byte) {
	return [16]byte{0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd},
		[16]byte{0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82},
		[16]byte{0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}
}

const (
	certEntrySize = 24   // GUID[16] ‖ offset u32 ‖ length u32
	pageSize      = 4096 // the host hands the guest whole pages
)

// buildCertTable lays out VCEK, ASK and ARK as SNP_GET_EXT_REPORT returns them:
// one 24-byte entry per certificate, an all-zero terminating entry, the DER
// certificates after the entries, and zero padding to a whole number of pages.
func buildCertTable(st *State) ([]byte, error) {
	vcek, ask, ark := certGUIDs()
	certs := []struct {
		guid [16]byte
		der  []byte
	}{{vcek, st.VCEK.Raw}, {ask, st.ASK.Raw}, {ark, st.ARK.Raw}}
	off := (len(certs) + 1) * certEntrySize
	size := off
	for _, c := range certs {
		size += len(c.der)
	}
	size = (size + pageSize - 1) / pageSize * pageSize
	if size > snp.MaxCertTable {
		return nil, fmt.Errorf("certificate table of %d bytes exceeds %d", size, snp.MaxCertTable)
	}
	t := make([]byte, size)
	for i, c := range certs {
		e := t[i*certEntrySize:]
		copy(e, c.guid[:])
		binary.LittleEndian.PutUint32(e[16:], uint32(off))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(c.der)))
		off += copy(t[off:], c.der)
	}
	return t, nil
}
