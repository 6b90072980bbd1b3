package emu

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/cvminit/cvminit/initramfs/launch"
)

// TestMeasurementFromLaunch: with launch inputs the report carries the digest
// sev-snp-measure publishes for the same inputs (REFERENCE.md §3, first row).
func TestMeasurementFromLaunch(t *testing.T) {
	ovmf, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "peer-vectors", "sev-snp-measure", "ovmf_AmdSev_suffix.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := launch.VCPUSignature("EPYC-v4")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Launch: &launch.Options{
		OVMF: ovmf, VCPUs: 1, VCPUSig: sig, VMM: launch.VMMQEMU, GuestFeatures: 0x21,
		Kernel: &launch.Kernel{Kernel: []byte{}, Initrd: []byte{}, Cmdline: ""},
	}}
	st := newState(t, "Milan")
	s := newServer(t, st, cfg)
	report, table, err := s.Report(reportData(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	const want = "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"
	if got := hex.EncodeToString(attestation(t, report, table).GetReport().GetMeasurement()); got != want {
		t.Fatalf("MEASUREMENT = %s, want %s", got, want)
	}
	if _, err := NewServer(st, Config{Launch: &launch.Options{OVMF: []byte("not ovmf"), VCPUs: 1}}); err == nil {
		t.Fatal("NewServer accepted an unmeasurable launch")
	}
}
