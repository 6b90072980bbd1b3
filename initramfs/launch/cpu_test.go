package launch

import (
	"errors"
	"testing"
)

// TestCPUSignature: vectors from virtee/sev-snp-measure tests/test_vcpu_types.py.
func TestCPUSignature(t *testing.T) {
	for _, c := range []struct{ fam, model, step, want uint32 }{
		{14, 1, 2, 0x0e12},
		{23, 1, 2, 0x800f12},
	} {
		if got := CPUSignature(c.fam, c.model, c.step); got != c.want {
			t.Errorf("CPUSignature(%d,%d,%d) = %#x, want %#x", c.fam, c.model, c.step, got, c.want)
		}
	}
}

// TestVCPUSignature: EPYC-v4, Milan and Genoa values from REFERENCE.md §3;
// Rome is family 0x17 model 0x31 and Turin family 0x1a model 0 in QEMU's
// builtin_x86_defs, encoded by hand per AMD CPUID spec #25481.
func TestVCPUSignature(t *testing.T) {
	for _, c := range []struct {
		name string
		want uint32
	}{
		{"EPYC", 0x800f12}, {"EPYC-v4", 0x800f12}, {"EPYC-IBPB", 0x800f12},
		{"EPYC-Rome", 0x830f10}, {"EPYC-Rome-v2", 0x830f10},
		{"EPYC-Milan", 0xa00f11}, {"EPYC-Milan-v2", 0xa00f11},
		{"EPYC-Genoa", 0xa10f10}, {"EPYC-Genoa-v1", 0xa10f10},
		{"EPYC-Turin", 0xb00f00}, {"EPYC-Turin-v1", 0xb00f00},
	} {
		got, err := VCPUSignature(c.name)
		if err != nil || got != c.want {
			t.Errorf("VCPUSignature(%q) = %#x, %v; want %#x", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "epyc-v4", "EPYC-v9", "Skylake-Server"} {
		if _, err := VCPUSignature(bad); !errors.Is(err, ErrUnknownVCPU) {
			t.Errorf("VCPUSignature(%q) err = %v, want ErrUnknownVCPU", bad, err)
		}
	}
	if n := len(VCPUTypes()); n != 18 {
		t.Errorf("VCPUTypes has %d names, want 18", n)
	}
}
