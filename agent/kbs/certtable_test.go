package kbs

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"
)

func TestCertTableRoundTrip(t *testing.T) {
	certs := []Cert{
		{Type: CertTypeVCEK, DER: []byte("vcek-der")},
		{Type: CertTypeASK, DER: []byte("ask")},
		{Type: CertTypeARK, DER: []byte("ark-der-bytes")},
		{Type: CertTypeVLEK, DER: []byte{1}},
		{Type: CertTypeCRL, DER: []byte("crl")},
	}
	table := BuildCertTable(certs)
	got, err := ParseCertTable(table)
	if err != nil || !reflect.DeepEqual(got, certs) {
		t.Fatalf("ParseCertTable(BuildCertTable(x)) = %v, %v", got, err)
	}
	// go-sev-guest's independent parser reads the same table.
	var ct abi.CertTable
	if err := ct.Unmarshal(table); err != nil {
		t.Fatal(err)
	}
	guids := map[string]string{
		CertTypeVCEK: abi.VcekGUID, CertTypeVLEK: abi.VlekGUID, CertTypeASK: abi.AskGUID, CertTypeARK: abi.ArkGUID,
		CertTypeCRL: "92f81bc3-5811-4d3d-97ff-d19f88dc67ea",
	}
	for _, c := range certs {
		der, err := ct.GetByGUIDString(guids[c.Type])
		if err != nil || !bytes.Equal(der, c.DER) {
			t.Errorf("go-sev-guest finds %q for %s (%v)", der, c.Type, err)
		}
	}
}

func TestParseGoSevGuestTable(t *testing.T) {
	ct := abi.CertTable{Entries: []abi.CertTableEntry{
		{GUID: uuid.MustParse(abi.ArkGUID), RawCert: []byte("ark")},
		{GUID: uuid.MustParse("ecae0c0f-9502-43b1-afa2-0ae2e0d565b6"), RawCert: []byte("extra")},
		{GUID: uuid.MustParse(abi.VcekGUID), RawCert: []byte("vcek")},
	}}
	got, err := ParseCertTable(ct.Marshal())
	want := []Cert{{Type: CertTypeARK, DER: []byte("ark")}, {Type: CertTypeVCEK, DER: []byte("vcek")}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v (unknown GUID skipped)", got, err, want)
	}
}

func TestParseCertTableEdgeCases(t *testing.T) {
	entry := func(guid string, off, n uint32) []byte {
		e := make([]byte, 24)
		g := mustGUID(guid)
		copy(e, g[:])
		binary.LittleEndian.PutUint32(e[16:], off)
		binary.LittleEndian.PutUint32(e[20:], n)
		return e
	}
	zero := make([]byte, 24)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	vcek := abi.VcekGUID
	tests := []struct {
		name    string
		table   []byte
		wantErr string
		wantN   int
	}{
		{"empty", nil, "", 0},
		{"all zero page", make([]byte, 4096), "", 0},
		{"no terminator", entry("ecae0c0f-9502-43b1-afa2-0ae2e0d565b6", 24, 0), "without a terminator", 0},
		{"truncated", make([]byte, 10), "without a terminator", 0},
		{"blob past end", cat(entry(vcek, 48, 100), zero), "outside", 0},
		{"blob in header", cat(entry(vcek, 8, 4), zero, []byte("abcd")), "overlaps the header", 0},
		{"empty blob", cat(entry(vcek, 48, 0), zero), "empty", 0},
		{"offset overflow", cat(entry(vcek, 0xFFFFFFFF, 2), zero), "outside", 0},
		{"good", cat(entry(vcek, 48, 4), zero, []byte("abcd")), "", 1},
	}
	for _, tc := range tests {
		got, err := ParseCertTable(tc.table)
		if tc.wantErr == "" && (err != nil || len(got) != tc.wantN) {
			t.Errorf("%s: got %v, %v; want %d certs", tc.name, got, err, tc.wantN)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if BuildCertTable(nil) != nil {
		t.Error("BuildCertTable(nil) must be nil")
	}
}

func FuzzParseCertTable(f *testing.F) {
	f.Add(BuildCertTable([]Cert{{Type: CertTypeVCEK, DER: []byte("v")}, {Type: CertTypeASK, DER: []byte("as")}}))
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, table []byte) {
		certs, err := ParseCertTable(table)
		if err != nil || len(certs) == 0 {
			return
		}
		again, err := ParseCertTable(BuildCertTable(certs))
		if err != nil || !reflect.DeepEqual(again, certs) {
			t.Fatalf("rebuilt table differs: %v", err)
		}
	})
}
