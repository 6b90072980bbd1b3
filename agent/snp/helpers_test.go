package snp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Policies from the SNP ABI: bit 17 is reserved-must-be-one, 16 allows SMT,
// 19 allows debugging.
const (
	policyDefault = 0x30000
	policyDebug   = 0xB0000
)

// synthReport builds a report-shaped buffer with the given fields at the
// spec offsets (POLICY 0x08, VMPL 0x30, REPORT_DATA 0x50). It is input to the
// code under test, not an expected value.
func synthReport(reportData [64]byte, policy uint64, vmpl uint32) []byte {
	r := make([]byte, 0x4A0)
	binary.LittleEndian.PutUint32(r[0x00:], 3)
	binary.LittleEndian.PutUint64(r[0x08:], policy)
	binary.LittleEndian.PutUint32(r[0x30:], vmpl)
	copy(r[0x50:0x90], reportData[:])
	return r
}

func data(b byte) [64]byte {
	var d [64]byte
	for i := range d {
		d[i] = b + byte(i)
	}
	return d
}

// peerVector reads a file from the shared peer vectors beside the checkout.
func peerVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "peer-vectors", "snp-reports", name))
	if err != nil {
		t.Fatalf("peer vector %s: %v", name, err)
	}
	return b
}
