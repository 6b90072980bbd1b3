package config

// Values of tpm.mode.
const (
	// TPMAuto measures when the VM has a TPM and boots on without one.
	TPMAuto = "auto"
	// TPMRequired fails the boot (TPM_FAILED) without a TPM.
	TPMRequired = "required"
	// TPMOff measures nothing.
	TPMOff = "off"
)

// TPM says whether cvminit measures the boot into a TPM.
//
// What is measured (SHA-256 bank only; each event extends its PCR with the
// SHA-256 of the bytes named, in this order, and is appended as it is made
// to /run/log/systemd/tpm2-measure.log, systemd's JSON-SEQ event log, which
// systemd in the new root continues):
//
//   - PCR 11 "cvminit-binary": the cvminit executable (/proc/self/exe, the
//     initramfs's /init);
//   - PCR 11 "cvminit-config": the exact bytes of this configuration as
//     baked into the initramfs (/etc/cvminit/config.json);
//   - PCR 11 "enter-initrd": that ASCII string (systemd-pcrphase's word);
//   - PCR 12 "kernel-cmdline": /proc/cmdline, surrounding white space trimmed;
//   - PCR 15 "luks-identity": "luks_uuid=<uuid> header_sha256=<hex>", the
//     identity of the unlocked root disk, once it is unlocked;
//   - PCR 15 "verity-root-hash": "verity_root_hash=<hex>", once the
//     dm-verity device exists (not with disk.integrity none and no tree);
//   - PCR 11 "leave-initrd": that ASCII string, just before switch_root.
//
// Key material is never measured. `cvmctl measure --pcrs` prints the final
// PCR 11, 12 and 15 values an image, command line and disk give.
//
// Trust: these measurements are for the OS that boots next (secrets sealed
// to PCRs, remote attestation of the running system) and for deployments
// whose vTPM runs inside the confidential boundary (an SVSM vTPM). A vTPM
// the host runs (swtpm beside QEMU) is the host's: it can read and forge
// every PCR. cvminit never uses any TPM for key release; the disk key is
// released on the SNP report alone (SECURITY.md).
type TPM struct {
	// Mode is "auto" (default): measure when the VM has a TPM
	// (/dev/tpmrm0 or /dev/tpm0) and boot on without one (the OK status
	// line then says tpm=absent), but fail the boot (TPM_FAILED) when a
	// TPM that is present cannot be used; "required": no TPM fails the
	// boot too; "off": measure nothing (tpm=off). In the operator's YAML
	// a bare off (YAML 1.1 reads it as the boolean false) means "off".
	Mode string `json:"mode"`
}

// fromYAML undoes YAML 1.1's reading of a bare off as a boolean, which
// the YAML decoder hands over to a string member as "false".
func (t *TPM) fromYAML() {
	if t.Mode == "false" {
		t.Mode = TPMOff
	}
}
