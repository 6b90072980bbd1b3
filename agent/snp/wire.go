package snp

// Guest ↔ emulator wire format, version 1.
//
// The emulated provider talks to cmd/snpemu over a virtio-serial port, which is a
// byte stream: frames follow each other with no other separator. All integers
// are little-endian. The format is cvminit's own (no standard exists for it).
//
// Request (guest -> emulator), exactly RequestSize = 0x4C bytes:
//
//	0x00 [4]  magic "SNPQ"
//	0x04 u16  version, 1
//	0x06 u16  type, 1 = extended report (report + certificate table)
//	0x08 u32  VMPL the report is requested at (0..3)
//	0x0C [64] REPORT_DATA
//
// Response (emulator -> guest), a ResponseHeaderSize = 0x10 byte header and a body:
//
//	0x00 [4]  magic "SNPR"
//	0x04 u16  version, 1
//	0x06 u16  status: 0 ok, otherwise one of the Status* codes
//	0x08 u32  report length: status 0 -> exactly ReportSize (0x4A0); else 0
//	0x0C u32  aux length: status 0 -> certificate table length, 0..MaxCertTable (0x4000);
//	          else length of a short message, 0..MaxMessage (256) bytes
//	0x10      report bytes, then aux bytes (certificate table or message)
//
// The certificate table has the SNP_GET_EXT_REPORT GUID-table layout; 0x4000
// bytes is the most the Linux sev-guest driver hands a guest, so the emulator
// never gives more than hardware could. A reader rejects any other length,
// magic or version before allocating or reading the body, so a hostile host
// cannot make the guest read without bound. An emulator that meets bytes which
// do not start with "SNPQ" skips them one at a time until a magic appears.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format constants (see the layout above).
const (
	WireVersion        = 1
	RequestSize        = 0x4C
	ResponseHeaderSize = 0x10
	MaxCertTable       = 0x4000
	MaxMessage         = 256

	// TypeExtendedReport asks for a report and its certificate table.
	TypeExtendedReport = 1
)

// Response status codes.
const (
	StatusOK          = 0
	StatusBadRequest  = 1 // malformed request
	StatusBadVersion  = 2 // request version not spoken by the emulator
	StatusBadType     = 3 // unknown request type
	StatusBadVMPL     = 4 // VMPL outside 0..3
	StatusInternalErr = 5 // the emulator failed to produce a report
)

// Magic values opening requests and responses.
const (
	RequestMagic  = "SNPQ"
	ResponseMagic = "SNPR"
)

// Wire errors.
var (
	ErrWireFormat  = errors.New("malformed snpemu frame")
	ErrWireVersion = errors.New("unsupported snpemu wire version")
	// ErrEmulatorStatus matches every *StatusError.
	ErrEmulatorStatus = errors.New("snpemu answered with an error status")
)

// Request is one decoded request frame.
type Request struct {
	Type       uint16
	VMPL       uint32
	ReportData [64]byte
}

// Response is one decoded response frame. Report and CertTable are set when
// Status is StatusOK, Message otherwise.
type Response struct {
	Status    uint16
	Message   string
	Report    []byte
	CertTable []byte
}

// StatusError is a non-zero response status turned into an error.
type StatusError struct {
	Code    uint16
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("snpemu status %d: %q", e.Code, e.Message)
}

// Is makes errors.Is(err, ErrEmulatorStatus) true.
func (e *StatusError) Is(target error) bool { return target == ErrEmulatorStatus }

// EncodeRequest returns the RequestSize-byte frame for r.
func EncodeRequest(r Request) []byte {
	b := make([]byte, RequestSize)
	copy(b[0:4], RequestMagic)
	binary.LittleEndian.PutUint16(b[4:], WireVersion)
	binary.LittleEndian.PutUint16(b[6:], r.Type)
	binary.LittleEndian.PutUint32(b[8:], r.VMPL)
	copy(b[0x0C:], r.ReportData[:])
	return b
}

// DecodeRequest decodes exactly one request frame. A frame with the right magic
// but another version yields ErrWireVersion; type and VMPL are left for the
// emulator to judge.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) != RequestSize {
		return r, fmt.Errorf("%w: request is %d bytes, want %d", ErrWireFormat, len(b), RequestSize)
	}
	if string(b[0:4]) != RequestMagic {
		return r, fmt.Errorf("%w: bad request magic %q", ErrWireFormat, b[0:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != WireVersion {
		return r, fmt.Errorf("%w: request version %d", ErrWireVersion, v)
	}
	r.Type = binary.LittleEndian.Uint16(b[6:])
	r.VMPL = binary.LittleEndian.Uint32(b[8:])
	copy(r.ReportData[:], b[0x0C:])
	return r, nil
}

// EncodeResponse returns the frame for r, refusing lengths a reader would reject.
func EncodeResponse(r Response) ([]byte, error) {
	report, aux := r.Report, r.CertTable
	if r.Status != StatusOK {
		report, aux = nil, []byte(r.Message)
	}
	if err := checkLengths(r.Status, uint32(len(report)), uint32(len(aux))); err != nil {
		return nil, err
	}
	b := make([]byte, ResponseHeaderSize, ResponseHeaderSize+len(report)+len(aux))
	copy(b[0:4], ResponseMagic)
	binary.LittleEndian.PutUint16(b[4:], WireVersion)
	binary.LittleEndian.PutUint16(b[6:], r.Status)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(report)))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(aux)))
	return append(append(b, report...), aux...), nil
}

// checkLengths enforces the length rules of the response header.
func checkLengths(status uint16, reportLen, auxLen uint32) error {
	if status != StatusOK {
		if reportLen != 0 || auxLen > MaxMessage {
			return fmt.Errorf("%w: error response with report length %d, message length %d",
				ErrWireFormat, reportLen, auxLen)
		}
		return nil
	}
	if reportLen != ReportSize {
		return fmt.Errorf("%w: report length %d, want %d", ErrWireFormat, reportLen, ReportSize)
	}
	if auxLen > MaxCertTable {
		return fmt.Errorf("%w: certificate table length %d exceeds %d", ErrWireFormat, auxLen, MaxCertTable)
	}
	return nil
}

// parseResponseHeader validates a header and returns status and body lengths.
func parseResponseHeader(h []byte) (status uint16, reportLen, auxLen uint32, err error) {
	if string(h[0:4]) != ResponseMagic {
		return 0, 0, 0, fmt.Errorf("%w: bad response magic %q", ErrWireFormat, h[0:4])
	}
	if v := binary.LittleEndian.Uint16(h[4:]); v != WireVersion {
		return 0, 0, 0, fmt.Errorf("%w: response version %d", ErrWireVersion, v)
	}
	status = binary.LittleEndian.Uint16(h[6:])
	reportLen = binary.LittleEndian.Uint32(h[8:])
	auxLen = binary.LittleEndian.Uint32(h[12:])
	return status, reportLen, auxLen, checkLengths(status, reportLen, auxLen)
}

// ReadResponse reads one response frame from r, reading no more than the header
// allows once it has been validated.
func ReadResponse(r io.Reader) (Response, error) {
	var h [ResponseHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Response{}, fmt.Errorf("reading response header: %w", err)
	}
	status, reportLen, auxLen, err := parseResponseHeader(h[:])
	if err != nil {
		return Response{}, err
	}
	body := make([]byte, int(reportLen)+int(auxLen))
	if _, err := io.ReadFull(r, body); err != nil {
		return Response{}, fmt.Errorf("reading %d-byte response body: %w", len(body), err)
	}
	return makeResponse(status, body[:reportLen], body[reportLen:]), nil
}

// DecodeResponse decodes exactly one response frame held in b.
func DecodeResponse(b []byte) (Response, error) {
	if len(b) < ResponseHeaderSize {
		return Response{}, fmt.Errorf("%w: response is %d bytes, shorter than its header", ErrWireFormat, len(b))
	}
	status, reportLen, auxLen, err := parseResponseHeader(b[:ResponseHeaderSize])
	if err != nil {
		return Response{}, err
	}
	body := b[ResponseHeaderSize:]
	if uint64(len(body)) != uint64(reportLen)+uint64(auxLen) {
		return Response{}, fmt.Errorf("%w: body is %d bytes, header says %d", ErrWireFormat, len(body), uint64(reportLen)+uint64(auxLen))
	}
	body = bytes.Clone(body)
	return makeResponse(status, body[:reportLen], body[reportLen:]), nil
}

func makeResponse(status uint16, report, aux []byte) Response {
	if status != StatusOK {
		return Response{Status: status, Message: string(aux)}
	}
	return Response{Status: status, Report: report, CertTable: aux}
}

// Err returns nil for StatusOK and a *StatusError otherwise.
func (r Response) Err() error {
	if r.Status == StatusOK {
		return nil
	}
	return &StatusError{Code: r.Status, Message: r.Message}
}
