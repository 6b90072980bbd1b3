package snp

import (
	"bytes"
	"testing"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add(EncodeRequest(Request{Type: 1, VMPL: 0}))
	f.Add([]byte("SNPQ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeRequest(r), b) {
			t.Fatalf("accepted frame does not re-encode to itself")
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	ok, _ := EncodeResponse(Response{Report: make([]byte, 0x4A0), CertTable: []byte{1, 2}})
	bad, _ := EncodeResponse(Response{Status: 3, Message: "no"})
	f.Add(ok)
	f.Add(bad)
	f.Add(ok[:16])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		again, err := EncodeResponse(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted frame does not re-encode to itself: %v", err)
		}
		streamed, err := ReadResponse(bytes.NewReader(b))
		if err != nil || streamed.Status != r.Status || !bytes.Equal(streamed.Report, r.Report) ||
			!bytes.Equal(streamed.CertTable, r.CertTable) || streamed.Message != r.Message {
			t.Fatalf("ReadResponse disagrees with DecodeResponse: %v", err)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	ok, _ := EncodeResponse(Response{Report: make([]byte, 0x4A0)})
	f.Add(ok)
	f.Add([]byte("SNPR\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		resp, err := ReadResponse(r)
		if err != nil {
			return
		}
		if resp.Status == StatusOK && len(resp.Report) != ReportSize {
			t.Fatalf("accepted report of %d bytes", len(resp.Report))
		}
		if len(resp.CertTable) > MaxCertTable || len(resp.Message) > MaxMessage {
			t.Fatalf("accepted oversize body")
		}
	})
}
