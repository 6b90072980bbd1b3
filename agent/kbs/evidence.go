package kbs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// reportJSON is the serde form of the Rust sev crate's AttestationReport
// (sev 6.x, as Trustee's SNP verifier deserialises it). Member order follows
// what that crate emits. Reserved bytes have no member.
type reportJSON struct {
	Version          uint32      `json:"version"`
	GuestSVN         uint32      `json:"guest_svn"`
	Policy           uint64      `json:"policy"`
	FamilyID         byteArray   `json:"family_id"`
	ImageID          byteArray   `json:"image_id"`
	VMPL             uint32      `json:"vmpl"`
	SigAlgo          uint32      `json:"sig_algo"`
	CurrentTCB       tcbJSON     `json:"current_tcb"`
	PlatInfo         uint64      `json:"plat_info"`
	KeyInfo          uint32      `json:"key_info"`
	ReportData       byteArray   `json:"report_data"`
	Measurement      byteArray   `json:"measurement"`
	HostData         byteArray   `json:"host_data"`
	IDKeyDigest      byteArray   `json:"id_key_digest"`
	AuthorKeyDigest  byteArray   `json:"author_key_digest"`
	ReportID         byteArray   `json:"report_id"`
	ReportIDMA       byteArray   `json:"report_id_ma"`
	ReportedTCB      tcbJSON     `json:"reported_tcb"`
	CPUIDFamID       *uint8      `json:"cpuid_fam_id"`
	CPUIDModID       *uint8      `json:"cpuid_mod_id"`
	CPUIDStep        *uint8      `json:"cpuid_step"`
	ChipID           byteArray   `json:"chip_id"`
	CommittedTCB     tcbJSON     `json:"committed_tcb"`
	Current          versionJSON `json:"current"`
	Committed        versionJSON `json:"committed"`
	LaunchTCB        tcbJSON     `json:"launch_tcb"`
	LaunchMitVector  *uint64     `json:"launch_mit_vector,omitempty"`
	CurrentMitVector *uint64     `json:"current_mit_vector,omitempty"`
	Signature        sigJSON     `json:"signature"`
}

// requiredReportKeys are the members every report object must carry (the
// mitigation vectors are optional: older sev releases do not emit them).
var requiredReportKeys = []string{
	"version", "guest_svn", "policy", "family_id", "image_id", "vmpl", "sig_algo",
	"current_tcb", "plat_info", "key_info", "report_data", "measurement", "host_data",
	"id_key_digest", "author_key_digest", "report_id", "report_id_ma", "reported_tcb",
	"cpuid_fam_id", "cpuid_mod_id", "cpuid_step", "chip_id", "committed_tcb",
	"current", "committed", "launch_tcb", "signature",
}

// tcbJSON is a TCB_VERSION; FMC is null before Turin.
type tcbJSON struct {
	FMC        *uint8 `json:"fmc"`
	Bootloader uint8  `json:"bootloader"`
	TEE        uint8  `json:"tee"`
	SNP        uint8  `json:"snp"`
	Microcode  uint8  `json:"microcode"`
}

// versionJSON is a firmware version.
type versionJSON struct {
	Major uint8 `json:"major"`
	Minor uint8 `json:"minor"`
	Build uint8 `json:"build"`
}

// sigJSON is the ECDSA P-384 signature, R and S as 72 little-endian bytes.
type sigJSON struct {
	R byteArray `json:"r"`
	S byteArray `json:"s"`
}

// snpEvidenceJSON is Trustee's SnpEvidence.
type snpEvidenceJSON struct {
	AttestationReport *reportJSON `json:"attestation_report"`
	CertChain         []certJSON  `json:"cert_chain"`
}

// certJSON is the sev crate's CertTableEntry.
type certJSON struct {
	CertType string    `json:"cert_type"`
	Data     byteArray `json:"data"`
}

// byteArray is a byte string that serde writes as an array of integers.
type byteArray []byte

// MarshalJSON writes b as [n,n,...].
func (b byteArray) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+4*len(b))
	out = append(out, '[')
	for i, v := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(v), 10)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON reads an array of integers in 0..255. Canonical arrays (see
// fastjson.go) take a fast path; anything else goes through encoding/json.
func (b *byteArray) UnmarshalJSON(data []byte) error {
	s := &scanner{b: data}
	if out := s.octets(); s.end() {
		*b = out
		return nil
	}
	return b.unmarshalSlow(data)
}

// unmarshalSlow is UnmarshalJSON through encoding/json.
func (b *byteArray) unmarshalSlow(data []byte) error {
	// A []uint8 kind would also accept a base64 string; serde never writes one.
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return errors.New("want an array of integers 0..255")
	}
	var vals []uint8Num
	if err := json.Unmarshal(data, &vals); err != nil {
		return fmt.Errorf("want an array of integers 0..255: %w", err)
	}
	out := make([]byte, len(vals))
	for i, v := range vals {
		out[i] = byte(v)
	}
	*b = out
	return nil
}

// uint8Num is a byte decoded from a JSON number (not from base64).
type uint8Num uint8

// EncodeSNPEvidence renders a raw SNP report and its certificates in the JSON
// form Trustee's SNP verifier expects as primary_evidence. It refuses a
// report the JSON form cannot carry exactly (unsupported version, non-zero
// reserved bytes), since the verifier could not re-create its signed bytes.
func EncodeSNPEvidence(report []byte, certs []Cert) ([]byte, error) {
	r, err := reportFromRaw(report)
	if err != nil {
		return nil, fmt.Errorf("encoding SNP evidence: %w", err)
	}
	back, err := r.toRaw()
	if err != nil {
		return nil, fmt.Errorf("encoding SNP evidence: %w", err)
	}
	if i := firstDiff(back, report); i >= 0 {
		return nil, fmt.Errorf("encoding SNP evidence: %w (offset 0x%x)", errNotRepresentable, i)
	}
	ev := snpEvidenceJSON{AttestationReport: r}
	for i, c := range certs {
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("encoding SNP evidence: certificate %d: %w", i, err)
		}
		ev.CertChain = append(ev.CertChain, certJSON{CertType: c.Type, Data: c.DER})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding SNP evidence: %w", err)
	}
	return out, nil
}

// DecodeSNPEvidence parses Trustee SNP evidence JSON and re-creates the raw
// 0x4A0-byte report (reserved bytes zero) and the certificate chain. Unknown
// members, missing members, wrong array lengths and values a raw report
// cannot hold are errors.
func DecodeSNPEvidence(data []byte) (report []byte, certs []Cert, err error) {
	ev, ok := decodeEvidenceFast(data)
	if !ok {
		if ev, err = decodeEvidenceJSON(data); err != nil {
			return nil, nil, fmt.Errorf("decoding SNP evidence: %w", err)
		}
	}
	report, certs, err = ev.lower()
	if err != nil {
		return nil, nil, fmt.Errorf("decoding SNP evidence: %w", err)
	}
	return report, certs, nil
}

// lower re-creates the raw report and the certificates of decoded evidence.
func (ev *snpEvidenceJSON) lower() (report []byte, certs []Cert, err error) {
	report, err = ev.AttestationReport.toRaw()
	if err != nil {
		return nil, nil, fmt.Errorf("attestation_report: %w", err)
	}
	for i, c := range ev.CertChain {
		cert := Cert{Type: c.CertType, DER: []byte(c.Data)}
		if err := cert.check(); err != nil {
			return nil, nil, fmt.Errorf("cert_chain[%d]: %w", i, err)
		}
		certs = append(certs, cert)
	}
	return report, certs, nil
}

// decodeEvidenceJSON is the strict JSON step of DecodeSNPEvidence.
func decodeEvidenceJSON(data []byte) (*snpEvidenceJSON, error) {
	var ev snpEvidenceJSON
	if err := strictUnmarshal(data, &ev); err != nil {
		return nil, err
	}
	if ev.AttestationReport == nil {
		return nil, errors.New("attestation_report is missing")
	}
	var outer struct {
		AttestationReport map[string]json.RawMessage `json:"attestation_report"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return nil, err
	}
	for _, k := range requiredReportKeys {
		if _, ok := outer.AttestationReport[k]; !ok {
			return nil, fmt.Errorf("attestation_report.%s is missing", k)
		}
	}
	return &ev, nil
}

// strictUnmarshal decodes exactly one JSON value into v, rejecting unknown
// members and trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
