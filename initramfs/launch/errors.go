package launch

import "errors"

// Sentinel errors; returned errors wrap them with context.
var (
	// ErrNoKernelHashes: a kernel was given but the firmware's SEV metadata has
	// no SNP_KERNEL_HASHES section (e.g. the standard OVMF.fd rather than an
	// AmdSevX64 build), so the kernel, initrd and command line cannot be measured.
	ErrNoKernelHashes = errors.New("kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")
	// ErrUnknownVCPU: the vCPU type name is not a known QEMU EPYC model.
	ErrUnknownVCPU = errors.New("unknown vcpu type")
	// ErrNoFooter: the firmware image has no OVMF footer table GUID where
	// it must be (32 bytes before its end).
	ErrNoFooter = errors.New("no OVMF footer table")
	// ErrMalformedOVMF: the footer table, an entry or the SEV metadata is
	// inconsistent, missing or of an unknown kind.
	ErrMalformedOVMF = errors.New("malformed OVMF")
	// ErrBadSize: an image, section, seed digest or vCPU count has an
	// impossible size.
	ErrBadSize = errors.New("bad size")
	// ErrBadOption: an Options field has an unsupported value.
	ErrBadOption = errors.New("bad option")
)
