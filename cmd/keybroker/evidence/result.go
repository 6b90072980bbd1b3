package evidence

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-sev-guest/abi"
)

// HexBytes is a byte slice that prints and marshals as lower-case hex.
type HexBytes []byte

// String returns the hex form.
func (h HexBytes) String() string { return hex.EncodeToString(h) }

// MarshalText returns the hex form (used by encoding/json).
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// TCB is a TCB_VERSION value and its components in its product line's
// layout. FMC exists on Turin only.
type TCB struct {
	Raw        uint64 `json:"raw"`
	FMC        uint8  `json:"fmc,omitempty"`
	Bootloader uint8  `json:"bootloader"`
	TEE        uint8  `json:"tee"`
	SNP        uint8  `json:"snp"`
	Microcode  uint8  `json:"microcode"`
	turin      bool
}

// decodeTCB splits a TCB_VERSION (layouts as in tcbBytes).
func decodeTCB(v uint64, line string) TCB {
	b := func(i int) uint8 { return uint8(v >> (8 * i)) }
	if line == "Turin" {
		return TCB{Raw: v, FMC: b(0), Bootloader: b(1), TEE: b(2), SNP: b(3), Microcode: b(7), turin: true}
	}
	return TCB{Raw: v, Bootloader: b(0), TEE: b(1), SNP: b(6), Microcode: b(7)}
}

// String renders "bootloader=3 tee=0 snp=8 microcode=115 (0x7308000000000003)".
func (t TCB) String() string {
	s := fmt.Sprintf("bootloader=%d tee=%d snp=%d microcode=%d (0x%016x)", t.Bootloader, t.TEE, t.SNP, t.Microcode, t.Raw)
	if t.turin {
		s = fmt.Sprintf("fmc=%d ", t.FMC) + s
	}
	return s
}

// GuestPolicy is the decoded guest POLICY field.
type GuestPolicy struct {
	ABIMajor       uint8 `json:"abi_major"`
	ABIMinor       uint8 `json:"abi_minor"`
	SMT            bool  `json:"smt"`
	MigrationAgent bool  `json:"migration_agent"`
	Debug          bool  `json:"debug"`
	SingleSocket   bool  `json:"single_socket"`
	CXL            bool  `json:"cxl"`
}

// Result describes an authentic report. Byte fields marshal as hex.
type Result struct {
	Signer          string      `json:"signer"`
	Product         string      `json:"product"`
	NonAMDRoot      bool        `json:"non_amd_root"`
	Version         uint32      `json:"version"`
	VMPL            uint32      `json:"vmpl"`
	GuestSVN        uint32      `json:"guest_svn"`
	Policy          uint64      `json:"policy"`
	GuestPolicy     GuestPolicy `json:"guest_policy"`
	Measurement     HexBytes    `json:"measurement"`
	ReportData      HexBytes    `json:"report_data"`
	HostData        HexBytes    `json:"host_data"`
	IDKeyDigest     HexBytes    `json:"id_key_digest"`
	ChipID          HexBytes    `json:"chip_id"`
	ReportedTCB     TCB         `json:"reported_tcb"`
	CommittedTCB    TCB         `json:"committed_tcb"`
	LaunchTCB       TCB         `json:"launch_tcb"`
	CurrentTCB      TCB         `json:"current_tcb"`
	CurrentFirmware string      `json:"current_firmware"`
}

func newResult(a *authentic) *Result {
	r := a.att.Report
	gp, _ := abi.ParseSnpPolicy(r.GetPolicy())
	return &Result{
		Signer: a.signer.String(), Product: a.line, NonAMDRoot: a.nonAMD,
		Version: r.GetVersion(), VMPL: r.GetVmpl(), GuestSVN: r.GetGuestSvn(), Policy: r.GetPolicy(),
		GuestPolicy: GuestPolicy{ABIMajor: gp.ABIMajor, ABIMinor: gp.ABIMinor, SMT: gp.SMT,
			MigrationAgent: gp.MigrateMA, Debug: gp.Debug, SingleSocket: gp.SingleSocket, CXL: gp.CXLAllowed},
		Measurement:     r.GetMeasurement(),
		ReportData:      r.GetReportData(),
		HostData:        r.GetHostData(),
		IDKeyDigest:     r.GetIdKeyDigest(),
		ChipID:          r.GetChipId(),
		ReportedTCB:     decodeTCB(r.GetReportedTcb(), a.line),
		CommittedTCB:    decodeTCB(r.GetCommittedTcb(), a.line),
		LaunchTCB:       decodeTCB(r.GetLaunchTcb(), a.line),
		CurrentTCB:      decodeTCB(r.GetCurrentTcb(), a.line),
		CurrentFirmware: fmt.Sprintf("%d.%d.%d", r.GetCurrentMajor(), r.GetCurrentMinor(), r.GetCurrentBuild()),
	}
}

// WriteText prints the result for people, one "name: value" per line.
func (r *Result) WriteText(w io.Writer) error {
	root := "AMD root"
	if r.NonAMDRoot {
		root = "NON-AMD root (not evidence of real hardware)"
	}
	g := r.GuestPolicy
	_, err := fmt.Fprintf(w, `signer:         %s, %s, product %s
version:        %d
vmpl:           %d
guest_svn:      %d
policy:         0x%x (debug=%s migration_agent=%s smt=%s single_socket=%s cxl=%s abi>=%d.%d)
measurement:    %s
report_data:    %s
host_data:      %s
id_key_digest:  %s
chip_id:        %s
reported_tcb:   %s
committed_tcb:  %s
launch_tcb:     %s
current_tcb:    %s
firmware:       %s
`, r.Signer, root, r.Product, r.Version, r.VMPL, r.GuestSVN,
		r.Policy, yesNo(g.Debug), yesNo(g.MigrationAgent), yesNo(g.SMT), yesNo(g.SingleSocket), yesNo(g.CXL), g.ABIMajor, g.ABIMinor,
		r.Measurement, r.ReportData, r.HostData, r.IDKeyDigest, r.ChipID,
		r.ReportedTCB, r.CommittedTCB, r.LaunchTCB, r.CurrentTCB, r.CurrentFirmware)
	return err
}

// WriteJSON prints the result as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
