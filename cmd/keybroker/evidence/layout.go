package evidence

import (
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
)

// Offsets in the ATTESTATION_REPORT (SNP ABI specification, table
// "ATTESTATION_REPORT Structure"; see REFERENCE.md section 2).
const (
	reportSize       = abi.ReportSize // 0x4A0
	offSignerInfo    = 0x48
	offCPUIDFamily   = 0x188
	offCPUIDModel    = 0x189
	offCPUIDStepping = 0x18A
	maxReportVersion = abi.MaxSupportedReportVersion
)

// reportSigner decodes SIGNER_INFO bits 2-4.
func reportSigner(raw []byte) (abi.ReportSigner, error) {
	info, err := abi.ParseSignerInfo(binary.LittleEndian.Uint32(raw[offSignerInfo:]))
	if err != nil {
		return 0, fmt.Errorf("%w: SIGNER_INFO: %w", ErrMalformed, err)
	}
	return info.SigningKey, nil
}

// lineFromCPUID maps the report's CPUID family/model (v3+) to a product
// line: family 0x19 models 0x00-0x0F Milan, 0x10-0x1F and 0xA0-0xAF Genoa;
// family 0x1A models 0x00-0x11 Turin (REFERENCE.md section 2). It returns ""
// when the report carries no CPUID (all zero).
func lineFromCPUID(raw []byte) (string, error) {
	fam, model := raw[offCPUIDFamily], raw[offCPUIDModel]
	if fam == 0 && model == 0 && raw[offCPUIDStepping] == 0 {
		return "", nil
	}
	switch {
	case fam == 0x19 && model <= 0x0F:
		return "Milan", nil
	case fam == 0x19 && (model>>4 == 0x1 || model>>4 == 0xA):
		return "Genoa", nil
	case fam == 0x1A && model <= 0x11:
		return "Turin", nil
	}
	return "", fmt.Errorf("%w: unknown CPU family 0x%x model 0x%x", ErrProduct, fam, model)
}

// lineFromCert reads the product line from the V[CL]EK product-name
// extension ("Milan-B0", "Genoa", ...).
func lineFromCert(exts *kds.Extensions) (string, error) {
	line, _, _ := strings.Cut(exts.ProductName, "-")
	if !knownLine(line) {
		return "", fmt.Errorf("%w: certificate product name %q is not a known product", ErrCertificate, exts.ProductName)
	}
	return line, nil
}

// signatureOK checks the report's ECDSA P-384 signature over [0, 0x2A0)
// with the certificate's key, without trusting anything else.
func signatureOK(raw []byte, leaf *x509.Certificate) bool {
	if leaf == nil || abi.SignatureAlgo(raw) != abi.SignEcdsaP384Sha384 {
		return false
	}
	der, err := abi.ReportToSignatureDER(raw)
	if err != nil {
		return false
	}
	return leaf.CheckSignature(x509.ECDSAWithSHA384, abi.SignedComponent(raw), der) == nil
}

// tcbBytes composes a minimum TCB in the product line's TCB_VERSION layout:
// Milan/Genoa [BL, TEE, 0, 0, 0, 0, SNP, UCODE], Turin [FMC, BL, TEE, SNP,
// 0, 0, 0, UCODE] (byte 0 is the least significant).
func tcbBytes(m TCBMinimum, line string) uint64 {
	b := [8]byte{m.Bootloader, m.TEE, 0, 0, 0, 0, m.SNP, m.Microcode}
	if line == "Turin" {
		b = [8]byte{m.FMC, m.Bootloader, m.TEE, m.SNP, 0, 0, 0, m.Microcode}
	}
	return binary.LittleEndian.Uint64(b[:])
}

// tcbAtLeast compares two TCB_VERSION values byte by byte (each byte is one
// component in every layout).
func tcbAtLeast(have, min uint64) bool {
	for i := 0; i < 64; i += 8 {
		if byte(have>>i) < byte(min>>i) {
			return false
		}
	}
	return true
}
