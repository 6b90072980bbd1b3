package klog

// Code is a stable failure code of the status protocol. The set is closed:
// Codes lists every one, and ParseStatus accepts no other.
type Code string

// The failure codes, in the order the boot can reach them.
const (
	CodeSetupFailed          Code = "SETUP_FAILED"
	CodeConfigInvalid        Code = "CONFIG_INVALID"
	CodeMemoryLow            Code = "MEMORY_LOW"
	CodeTPMFailed            Code = "TPM_FAILED"
	CodeModulesFailed        Code = "MODULES_FAILED"
	CodeNetworkDown          Code = "NETWORK_DOWN"
	CodeAttestUnavailable    Code = "ATTEST_UNAVAILABLE"
	CodeAttestDebugPolicy    Code = "ATTEST_DEBUG_POLICY"
	CodeBrokerUnreachable    Code = "BROKER_UNREACHABLE"
	CodeKeyRefused           Code = "KEY_REFUSED"
	CodeBrokerProtocol       Code = "BROKER_PROTOCOL"
	CodeDiskNotFound         Code = "DISK_NOT_FOUND"
	CodeHeaderRejected       Code = "HEADER_REJECTED"
	CodeDiskIdentityMismatch Code = "DISK_IDENTITY_MISMATCH"
	CodeUnlockFailed         Code = "UNLOCK_FAILED"
	CodeIntegrityFailed      Code = "INTEGRITY_FAILED"
	CodeMountFailed          Code = "MOUNT_FAILED"
	CodeSwitchRootFailed     Code = "SWITCH_ROOT_FAILED"
	CodeDeadlineExceeded     Code = "DEADLINE_EXCEEDED"
	CodeInternal             Code = "INTERNAL"
)

// CodeInfo documents one failure code. The README reproduces this table.
type CodeInfo struct {
	Code Code
	// Meaning is a short human hint; it opens the hint of a FAIL line.
	Meaning string
	// Action tells the operator where to look.
	Action string
}

// Codes returns the documented table of failure codes, in boot order.
func Codes() []CodeInfo {
	return []CodeInfo{
		{CodeSetupFailed, "mounting /proc, /sys, /dev or /run failed",
			"the kernel lacks proc, sysfs, devtmpfs or tmpfs support"},
		{CodeConfigInvalid, "the configuration in the image is invalid",
			"rebuild the initramfs with cvmctl initramfs build, which validates it"},
		{CodeMemoryLow, "the VM has less memory than boot.min_memory_mib",
			"give the VM more memory (the hint gives MemTotal, which is about 50 MiB below the VM's RAM) " +
				"or lower boot.min_memory_mib"},
		{CodeTPMFailed, "the boot could not be measured into the TPM",
			"tpm.mode required needs a TPM; with auto a TPM that is present must work " +
				"(check the VM's TPM device and the kernel log), or set tpm.mode off"},
		{CodeModulesFailed, "a kernel module could not be loaded",
			"the initramfs was built for another kernel release, or a dependency is missing; " +
				"aesni_intel fails on a CPU without AES-NI, which dm-crypt must use"},
		{CodeNetworkDown, "the network could not be configured",
			"check the VM's network device and network.* in the config"},
		{CodeAttestUnavailable, "no SNP attestation report could be obtained",
			"the VM is not an SEV-SNP guest, sev-guest/configfs-tsm is missing, or the emulator is not attached"},
		{CodeAttestDebugPolicy, "the guest policy allows debugging; no key is requested",
			"launch the VM with a guest policy that has the DEBUG bit (19) clear"},
		{CodeBrokerUnreachable, "the key broker could not be reached",
			"check broker.url, the route to the broker and that the broker runs"},
		{CodeKeyRefused, "broker refused the key",
			"the launch measurement or report is not in the broker's policy, or the resource does not exist"},
		{CodeBrokerProtocol, "the key broker answered something unusable",
			"check that broker.url points to a KBS protocol 0.4.0 broker and that its certificate matches broker.ca_pem"},
		{CodeDiskNotFound, "the root disk did not appear",
			"attach the disk sealed with disk.luks_uuid; exactly one disk may carry that UUID"},
		{CodeHeaderRejected, "the root disk's LUKS2 header failed the checks",
			"the disk was not made by cvmctl seal or was modified"},
		{CodeDiskIdentityMismatch, "the root disk is not the one the key was sealed for",
			"the host attached a disk that cvmctl did not seal with this key"},
		{CodeUnlockFailed, "the released key did not unlock the root disk",
			"the broker's resource does not belong to this disk"},
		{CodeIntegrityFailed, "the root file system's dm-verity protection could not be set up",
			"seal the disk with dm-verity and store that payload at the broker (or set disk.integrity: none); " +
				"a set disk.verity_root_hash must match the payload's"},
		{CodeMountFailed, "the unlocked root file system could not be mounted",
			"check disk.fstype and disk.options, and that the root holds boot.init"},
		{CodeSwitchRootFailed, "switching to the new root failed",
			"the new root must contain /dev, /proc, /sys, /run and an executable boot.init"},
		{CodeDeadlineExceeded, "the boot did not finish within boot.deadline",
			"a step hung; see step= and the kernel log"},
		{CodeInternal, "internal error in cvminit",
			"a bug: report it with the kernel log"},
	}
}

// Info returns the table entry of c and whether c is a known code.
func (c Code) Info() (CodeInfo, bool) {
	for _, ci := range Codes() {
		if ci.Code == c {
			return ci, true
		}
	}
	return CodeInfo{}, false
}

// Valid reports whether c is one of the documented codes.
func (c Code) Valid() bool {
	_, ok := c.Info()
	return ok
}
