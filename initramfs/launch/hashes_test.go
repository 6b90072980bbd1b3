package launch

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// TestHashesTable checks QEMU's table for an empty kernel, empty initrd and
// empty command line, written out by hand: GUIDs in EFI byte order,
// SHA-256("\x00") for the command line and SHA-256("") for the files.
func TestHashesTable(t *testing.T) {
	want := strings.Join([]string{
		"06d63894224fc94cb479a793d411fd21", "a800",
		"d82dd09720bd944caa78e7714d36ab2a", "3200",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"31f7ba442f3ad74b9af141e29169781d", "3200",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"3794e74dd2ab7f42b835d5b172d2045b", "3200",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"0000000000000000",
	}, "")
	got := hashesTable(&Kernel{})
	if h := hex.EncodeToString(got[:]); h != want {
		t.Errorf("table\n got %s\nwant %s", h, want)
	}
}

func TestHashesPageOffset(t *testing.T) {
	page, err := hashesPage(&Kernel{}, 0x810c00)
	if err != nil {
		t.Fatal(err)
	}
	tbl := hashesTable(&Kernel{})
	if len(page) != PageSize || !bytes.Equal(page[0xc00:0xc00+len(tbl)], tbl[:]) {
		t.Errorf("table not at offset 0xc00 of a %d-byte page", len(page))
	}
	if !bytes.Equal(page[:0xc00], make([]byte, 0xc00)) {
		t.Error("bytes before the table are not zero")
	}
	if _, err := hashesPage(&Kernel{}, 0xf60); err == nil {
		t.Error("table at 0xf60 would cross the page, want error")
	}
}
