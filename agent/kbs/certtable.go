package kbs

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Cert is one certificate (or CRL) that accompanies an SNP report.
type Cert struct {
	// Type is one of the CertType* names.
	Type string
	// DER is the certificate (or CRL) in DER encoding.
	DER []byte
}

// Certificate type names, as Trustee's cert_chain spells them.
const (
	CertTypeVCEK = "VCEK"
	CertTypeVLEK = "VLEK"
	CertTypeASK  = "ASK"
	CertTypeARK  = "ARK"
	CertTypeCRL  = "CRL"
)

// certGUIDs maps each type to its GUID in the SNP extended-report
// certificate table (GHCB specification "SNP Extended Guest Request"; the
// same values as go-sev-guest abi and the sev crate's CertType), in the
// table's byte order, which is the GUID string's byte order.
var certGUIDs = map[string][16]byte{
	CertTypeVCEK: mustGUID("63da758d-e664-4564-adc5-f4b93be8accd"),
	CertTypeVLEK: mustGUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
	CertTypeASK:  mustGUID("4ab7b379-bbac-4fe4-a02f-05aef327c782"),
	CertTypeARK:  mustGUID("c0b406a4-a803-4952-9743-3fb6014cd0ae"),
	CertTypeCRL:  mustGUID("92f81bc3-5811-4d3d-97ff-d19f88dc67ea"),
}

const certEntrySize = 24 // GUID[16], offset u32, length u32

// check accepts known types with a non-empty body.
func (c Cert) check() error {
	if _, ok := certGUIDs[c.Type]; !ok {
		return fmt.Errorf("unknown certificate type %q", c.Type)
	}
	if len(c.DER) == 0 {
		return fmt.Errorf("%s certificate is empty", c.Type)
	}
	return nil
}

// ParseCertTable reads the certificate table an SNP extended report request
// returns: entries {GUID, offset, length} ended by an all-zero entry, the
// blobs at offsets from the table's start. An empty or all-zero table means
// the host supplied no certificates. Entries with GUIDs this package does
// not know are skipped; a malformed table is an error.
func ParseCertTable(table []byte) ([]Cert, error) {
	var certs []Cert
	for i := 0; ; i++ {
		pos := i * certEntrySize
		if pos == 0 && len(table) == 0 {
			return nil, nil
		}
		if pos+certEntrySize > len(table) {
			return nil, fmt.Errorf("certificate table: entry %d runs past the end (%d bytes) without a terminator", i, len(table))
		}
		e := table[pos : pos+certEntrySize]
		var guid [16]byte
		copy(guid[:], e)
		off, n := binary.LittleEndian.Uint32(e[16:]), binary.LittleEndian.Uint32(e[20:])
		if guid == ([16]byte{}) && off == 0 && n == 0 {
			return certs, nil
		}
		c, err := certAt(table, guid, off, n)
		if err != nil {
			return nil, fmt.Errorf("certificate table: entry %d: %w", i, err)
		}
		if c.Type != "" {
			certs = append(certs, c)
		}
	}
}

// certAt extracts one entry's blob; Type is empty for an unknown GUID.
func certAt(table []byte, guid [16]byte, off, n uint32) (Cert, error) {
	if uint64(off)+uint64(n) > uint64(len(table)) {
		return Cert{}, fmt.Errorf("blob [%d, +%d) outside the %d-byte table", off, n, len(table))
	}
	if off < certEntrySize {
		return Cert{}, fmt.Errorf("blob offset %d overlaps the header", off)
	}
	for name, g := range certGUIDs {
		if g == guid {
			if n == 0 {
				return Cert{}, fmt.Errorf("%s entry is empty", name)
			}
			return Cert{Type: name, DER: append([]byte(nil), table[off:off+n]...)}, nil
		}
	}
	return Cert{}, nil
}

// BuildCertTable lays out certs as an SNP extended-report certificate table
// (the inverse of ParseCertTable): the entries and the all-zero terminator,
// then the blobs in order. It returns nil for no certificates, and panics on
// an unknown type, which is a programming error.
func BuildCertTable(certs []Cert) []byte {
	if len(certs) == 0 {
		return nil
	}
	size := (len(certs) + 1) * certEntrySize
	for _, c := range certs {
		size += len(c.DER)
	}
	out := make([]byte, size)
	cursor := (len(certs) + 1) * certEntrySize
	for i, c := range certs {
		guid, ok := certGUIDs[c.Type]
		if !ok {
			panic(fmt.Sprintf("kbs.BuildCertTable: unknown certificate type %q", c.Type))
		}
		e := out[i*certEntrySize:]
		copy(e, guid[:])
		binary.LittleEndian.PutUint32(e[16:], uint32(cursor))
		binary.LittleEndian.PutUint32(e[20:], uint32(len(c.DER)))
		cursor += copy(out[cursor:], c.DER)
	}
	return out
}

// mustGUID parses a canonical GUID string into its 16 bytes.
func mustGUID(s string) [16]byte {
	var g [16]byte
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != len(g) {
		panic("kbs: malformed GUID " + s)
	}
	copy(g[:], b)
	return g
}
