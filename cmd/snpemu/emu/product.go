package emu

import (
	"fmt"

	"github.com/google/go-sev-guest/kds"
)

// product is what the emulator claims about the AMD part it stands in for.
// CPUID family/model/stepping are the values go-sev-guest maps to the product
// line (abi.SevProductFromCpuid1Eax); TCB, firmware version and PLATFORM_INFO
// are taken from real reports of that line (peer vectors) where one exists.
type product struct {
	line, name              string // "Milan", VCEK productName extension "Milan-B0"
	family, model, stepping byte
	tcb                     kds.TCBParts
	major, minor, build     byte   // firmware API version and build
	platformInfo            uint64 // PLATFORM_INFO (0x40)
}

// Products the emulator can be initialised as. Real Milan VCEKs say "Milan-B0"
// whatever the stepping, so the emulated one does too. Turin's TCB_VERSION has
// an FMC byte in real parts; go-sev-guest v0.15 reads every line with the Milan
// layout, and so does this emulator.
func products() map[string]product {
	return map[string]product{
		"Milan": {line: "Milan", name: "Milan-B0", family: 0x19, model: 0x01, stepping: 0x01,
			tcb:   kds.TCBParts{BlSpl: 4, TeeSpl: 0, SnpSpl: 24, UcodeSpl: 219},
			major: 1, minor: 55, build: 29, platformInfo: 0x1},
		"Genoa": {line: "Genoa", name: "Genoa-B1", family: 0x19, model: 0x11, stepping: 0x01,
			tcb:   kds.TCBParts{BlSpl: 10, TeeSpl: 0, SnpSpl: 23, UcodeSpl: 25},
			major: 1, minor: 55, build: 40, platformInfo: 0x25},
		"Turin": {line: "Turin", name: "Turin-B0", family: 0x1A, model: 0x02, stepping: 0x00,
			tcb:   kds.TCBParts{BlSpl: 2, TeeSpl: 1, SnpSpl: 5, UcodeSpl: 72},
			major: 1, minor: 58, build: 3, platformInfo: 0x25},
	}
}

func lookupProduct(line string) (product, error) {
	p, ok := products()[line]
	if !ok {
		return product{}, fmt.Errorf("%w: %q (want Milan, Genoa or Turin)", ErrUnknownProduct, line)
	}
	return p, nil
}
