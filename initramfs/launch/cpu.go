package launch

import (
	"fmt"
	"sort"
)

// CPUSignature composes the CPUID Fn0000_0001_EAX value (family, model,
// stepping identifiers) as described in AMD's CPUID specification #25481:
// families above 0xF are encoded as 0xF plus an extended family.
func CPUSignature(family, model, stepping uint32) uint32 {
	famLow, famHigh := family, uint32(0)
	if family > 0xf {
		famLow, famHigh = 0xf, (family-0xf)&0xff
	}
	return famHigh<<20 | (model>>4&0xf)<<16 | famLow<<8 | (model&0xf)<<4 | stepping&0xf
}

// vcpuModels lists QEMU's builtin AMD EPYC CPU models as family, model and
// stepping (QEMU target/i386/cpu.c builtin_x86_defs; versions of one model
// share the identifiers).
func vcpuModels() map[string][3]uint32 {
	return map[string][3]uint32{
		"EPYC": {23, 1, 2}, "EPYC-v1": {23, 1, 2}, "EPYC-v2": {23, 1, 2},
		"EPYC-IBPB": {23, 1, 2}, "EPYC-v3": {23, 1, 2}, "EPYC-v4": {23, 1, 2},
		"EPYC-Rome": {23, 49, 0}, "EPYC-Rome-v1": {23, 49, 0}, "EPYC-Rome-v2": {23, 49, 0},
		"EPYC-Rome-v3": {23, 49, 0}, "EPYC-Rome-v4": {23, 49, 0},
		"EPYC-Milan": {25, 1, 1}, "EPYC-Milan-v1": {25, 1, 1}, "EPYC-Milan-v2": {25, 1, 1},
		"EPYC-Genoa": {25, 17, 0}, "EPYC-Genoa-v1": {25, 17, 0},
		"EPYC-Turin": {26, 0, 0}, "EPYC-Turin-v1": {26, 0, 0},
	}
}

// VCPUSignature returns the CPUID(1).EAX signature of a QEMU vCPU type such
// as "EPYC-v4" (0x800f12), "EPYC-Milan" (0xa00f11) or "EPYC-Genoa" (0xa10f10).
// Unknown names yield ErrUnknownVCPU.
func VCPUSignature(name string) (uint32, error) {
	m, ok := vcpuModels()[name]
	if !ok {
		return 0, fmt.Errorf("vcpu type %q: %w", name, ErrUnknownVCPU)
	}
	return CPUSignature(m[0], m[1], m[2]), nil
}

// VCPUTypes returns the names VCPUSignature accepts, sorted.
func VCPUTypes() []string {
	models := vcpuModels()
	names := make([]string, 0, len(models))
	for n := range models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
