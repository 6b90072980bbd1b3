package snp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestEncodeRequestLayout checks the frame against the documented offsets,
// written out by hand.
func TestEncodeRequestLayout(t *testing.T) {
	var rd [64]byte
	rd[0], rd[63] = 0xAA, 0xBB
	got := EncodeRequest(Request{Type: 1, VMPL: 2, ReportData: rd})
	want := "534e5051" + "0100" + "0100" + "02000000" + "aa" + strings.Repeat("00", 62) + "bb"
	if hex.EncodeToString(got) != want {
		t.Fatalf("EncodeRequest =\n%x\nwant\n%s", got, want)
	}
	back, err := DecodeRequest(got)
	if err != nil || back.Type != 1 || back.VMPL != 2 || back.ReportData != rd {
		t.Fatalf("DecodeRequest round trip = %+v, %v", back, err)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	good := EncodeRequest(Request{Type: 1})
	badVersion := bytes.Clone(good)
	badVersion[4] = 2
	badMagic := bytes.Clone(good)
	badMagic[0] = 'X'
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short", good[:RequestSize-1], ErrWireFormat},
		{"long", append(bytes.Clone(good), 0), ErrWireFormat},
		{"magic", badMagic, ErrWireFormat},
		{"version", badVersion, ErrWireVersion},
	}
	for _, tc := range tests {
		if _, err := DecodeRequest(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// header builds a response header by hand from the documented layout.
func header(magic string, version, status uint16, reportLen, auxLen uint32) []byte {
	b := []byte(magic)
	b = append(b, byte(version), byte(version>>8), byte(status), byte(status>>8))
	b = append(b, byte(reportLen), byte(reportLen>>8), byte(reportLen>>16), byte(reportLen>>24))
	return append(b, byte(auxLen), byte(auxLen>>8), byte(auxLen>>16), byte(auxLen>>24))
}

func TestEncodeResponseLayout(t *testing.T) {
	report := bytes.Repeat([]byte{7}, 0x4A0)
	got, err := EncodeResponse(Response{Report: report, CertTable: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(header("SNPR", 1, 0, 0x4A0, 3), report...), 1, 2, 3)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeResponse header = %x, want %x", got[:16], want[:16])
	}
	got, err = EncodeResponse(Response{Status: StatusBadVMPL, Message: "vmpl 9"})
	want = append(header("SNPR", 1, 4, 0, 6), "vmpl 9"...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("EncodeResponse(error) = %x, %v; want %x", got, err, want)
	}
}

func TestEncodeResponseRefuses(t *testing.T) {
	tests := []Response{
		{Report: make([]byte, 0x49F)},
		{Report: make([]byte, 0x4A0), CertTable: make([]byte, 0x4001)},
		{Status: 1, Message: strings.Repeat("x", 257)},
	}
	for i, r := range tests {
		if _, err := EncodeResponse(r); !errors.Is(err, ErrWireFormat) {
			t.Errorf("case %d: err = %v, want ErrWireFormat", i, err)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	report := bytes.Repeat([]byte{9}, 0x4A0)
	ok := append(append(header("SNPR", 1, 0, 0x4A0, 2), report...), 5, 6)
	maxTable := append(append(header("SNPR", 1, 0, 0x4A0, 0x4000), report...), make([]byte, 0x4000)...)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"ok", ok, nil},
		{"max table", maxTable, nil},
		{"error status", append(header("SNPR", 1, 5, 0, 4), "oops"...), nil},
		{"short header", ok[:15], ErrWireFormat},
		{"magic", append(header("SNPQ", 1, 0, 0x4A0, 2), ok[16:]...), ErrWireFormat},
		{"version", append(header("SNPR", 2, 0, 0x4A0, 2), ok[16:]...), ErrWireVersion},
		{"report length", append(header("SNPR", 1, 0, 0x4A1, 1), ok[16:]...), ErrWireFormat},
		{"huge length", header("SNPR", 1, 0, 0xFFFFFFFF, 0xFFFFFFFF), ErrWireFormat},
		{"table too big", append(header("SNPR", 1, 0, 0x4A0, 0x4001), report...), ErrWireFormat},
		{"trailing byte", append(bytes.Clone(ok), 0), ErrWireFormat},
		{"truncated", ok[:len(ok)-1], ErrWireFormat},
		{"error with report", append(header("SNPR", 1, 1, 0x4A0, 0), report...), ErrWireFormat},
		{"message too long", append(header("SNPR", 1, 1, 0, 257), make([]byte, 257)...), ErrWireFormat},
	}
	for _, tc := range tests {
		r, err := DecodeResponse(tc.in)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if tc.name == "ok" && (!bytes.Equal(r.Report, report) || !bytes.Equal(r.CertTable, []byte{5, 6})) {
			t.Errorf("ok: decoded %d-byte report, table %x", len(r.Report), r.CertTable)
		}
		if tc.name == "error status" {
			var se *StatusError
			if !errors.As(r.Err(), &se) || se.Code != 5 || se.Message != "oops" || !errors.Is(r.Err(), ErrEmulatorStatus) {
				t.Errorf("error status: Err() = %v", r.Err())
			}
		}
	}
}

// countingReader yields an endless stream and counts what was taken from it.
type countingReader struct {
	src io.Reader
	n   int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	c.n += n
	return n, err
}

// TestReadResponseBounded: a header claiming a huge body is refused after
// reading exactly the 16 header bytes.
func TestReadResponseBounded(t *testing.T) {
	h := header("SNPR", 1, 0, 0x4A0, 0x7FFFFFFF)
	cr := &countingReader{src: io.MultiReader(bytes.NewReader(h), zeros{})}
	if _, err := ReadResponse(cr); !errors.Is(err, ErrWireFormat) {
		t.Fatalf("err = %v, want ErrWireFormat", err)
	}
	if cr.n != 16 {
		t.Fatalf("read %d bytes, want 16", cr.n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadResponseStream(t *testing.T) {
	a, _ := EncodeResponse(Response{Report: make([]byte, 0x4A0), CertTable: []byte{1}})
	b, _ := EncodeResponse(Response{Status: StatusBadType, Message: "type 9"})
	r := bytes.NewReader(append(a, b...))
	first, err := ReadResponse(r)
	if err != nil || len(first.Report) != 0x4A0 || !bytes.Equal(first.CertTable, []byte{1}) {
		t.Fatalf("first = %+v, %v", first, err)
	}
	second, err := ReadResponse(r)
	if err != nil || second.Status != StatusBadType || second.Message != "type 9" {
		t.Fatalf("second = %+v, %v", second, err)
	}
	if _, err := ReadResponse(r); !errors.Is(err, io.EOF) {
		t.Fatalf("third: err = %v, want EOF", err)
	}
	if _, err := ReadResponse(bytes.NewReader(a[:100])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: err = %v, want ErrUnexpectedEOF", err)
	}
}
