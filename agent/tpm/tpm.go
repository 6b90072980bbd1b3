// Package tpm owns cvminit's measured boot on a (v)TPM 2.0: the measurement
// scheme (which PCR gets which digest, in which order), the event log that
// lets a verifier replay it, and the small Device seam the boot extends
// through. Only the SHA-256 PCR bank is used. Every event extends PCR p with
// d = SHA-256(measured bytes), in this fixed order:
//
//	| # | PCR | name (event log "string") | measured bytes | when |
//	|---|-----|---------------------------|----------------|------|
//	| 1 | 11 | `cvminit-binary`  | the whole cvminit executable (/proc/self/exe; in cvmctl: the /init file of the initramfs) | first thing the tpm code does |
//	| 2 | 11 | `cvminit-config`  | the exact bytes of /etc/cvminit/config.json in the initramfs | right after 1 |
//	| 3 | 11 | `enter-initrd`    | the ASCII string `enter-initrd` (systemd-pcrphase's word) | right after 2 |
//	| 4 | 12 | `kernel-cmdline`  | the kernel command line as read from /proc/cmdline with the trailing newline and surrounding spaces trimmed | right after 3 |
//	| 5 | 15 | `luks-identity`   | ASCII `luks_uuid=<uuid> header_sha256=<64 hex>` (the disk identity released with the key and checked; never key material) | after the unlock step succeeded |
//	| 6 | 15 | `verity-root-hash`| ASCII `verity_root_hash=<64 hex>` | after the verity step created the device (skipped when integrity none) |
//	| 7 | 11 | `leave-initrd`    | ASCII `leave-initrd` | last, just before switch_root |
//
// PCR conventions follow systemd (11: boot phases/UKI, 12: kernel command
// line, 15: volume identity, machine-id). Replay starts each PCR at 32 zero
// bytes and, for each event, sets new = SHA-256(old || digest).
//
// The event log is systemd's JSON-SEQ (RFC 7464) tpm2-measure.log, one record
// per event, so that systemd appends its own measurements to the same file
// after switch_root:
//
//	\x1e{"pcr":11,"digests":[{"hashAlg":"sha256","digest":"<64 hex>"}],"content_type":"cvminit","content":{"string":"cvminit-binary"}}\n
//
// Written by hand: only the scheme above and the log codec (no well-kept Go
// library writes or reads systemd's tpm2-measure.log). Every TPM command
// (TPM2_PCR_Extend, TPM2_PCR_Read) and every transport is go-tpm's.
package tpm

import (
	"crypto/sha256"
	"strings"
)

// The PCRs of the scheme (systemd's conventions).
const (
	// PCRPhase holds the boot phases: cvminit's binary and config, and the
	// enter-initrd and leave-initrd phase words.
	PCRPhase = 11
	// PCRCmdline holds the kernel command line.
	PCRCmdline = 12
	// PCRVolume holds the identity of the root volume (LUKS and verity).
	PCRVolume = 15
)

// The phase words measured into PCRPhase (systemd-pcrphase's words).
const (
	PhaseEnterInitrd = "enter-initrd"
	PhaseLeaveInitrd = "leave-initrd"
)

// The event names of the scheme (the event log's content "string").
const (
	NameBinary     = "cvminit-binary"
	NameConfig     = "cvminit-config"
	NameCmdline    = "kernel-cmdline"
	NameDisk       = "luks-identity"
	NameVerityRoot = "verity-root-hash"
)

// maxPCR is the highest PCR index a PC Client TPM is required to have.
const maxPCR = 23

// Event is one measurement: PCR is extended with Digest, the SHA-256 of the
// measured bytes; Name is the event log's content "string".
type Event struct {
	PCR    int
	Name   string
	Digest [32]byte
}

// Measure returns the event that extends pcr with SHA-256(data).
func Measure(pcr int, name string, data []byte) Event {
	return Event{PCR: pcr, Name: name, Digest: sha256.Sum256(data)}
}

// BinaryEvent measures the whole cvminit executable into PCRPhase.
func BinaryEvent(exe []byte) Event { return Measure(PCRPhase, NameBinary, exe) }

// ConfigEvent measures the exact bytes of the initramfs's config.json into
// PCRPhase.
func ConfigEvent(configJSON []byte) Event { return Measure(PCRPhase, NameConfig, configJSON) }

// PhaseEvent measures a phase word (PhaseEnterInitrd, PhaseLeaveInitrd) into
// PCRPhase; the word is both the measured bytes and the event name.
func PhaseEvent(phase string) Event { return Measure(PCRPhase, phase, []byte(phase)) }

// CmdlineEvent measures the kernel command line into PCRCmdline, after
// trimming surrounding white space (so /proc/cmdline's trailing newline and
// the string an operator configured measure alike).
func CmdlineEvent(cmdline string) Event {
	return Measure(PCRCmdline, NameCmdline, []byte(strings.TrimSpace(cmdline)))
}

// DiskEvent measures the LUKS volume identity into PCRVolume as
// "luks_uuid=<uuid> header_sha256=<hex>". Both values are lower-cased, so the
// guest and cvmctl agree whatever case their source printed.
func DiskEvent(luksUUID, headerSHA256 string) Event {
	s := "luks_uuid=" + strings.ToLower(luksUUID) + " header_sha256=" + strings.ToLower(headerSHA256)
	return Measure(PCRVolume, NameDisk, []byte(s))
}

// VerityEvent measures the dm-verity root hash into PCRVolume as
// "verity_root_hash=<hex>" (lower-cased).
func VerityEvent(rootHash string) Event {
	return Measure(PCRVolume, NameVerityRoot, []byte("verity_root_hash="+strings.ToLower(rootHash)))
}

// Replay returns the PCR values after events, starting from all-zero PCRs:
// for each event, new = SHA-256(old || digest). Only PCRs that have events
// are in the map.
func Replay(events []Event) map[int][32]byte {
	pcrs := make(map[int][32]byte)
	for _, e := range events {
		old := pcrs[e.PCR]
		pcrs[e.PCR] = sha256.Sum256(append(old[:], e.Digest[:]...))
	}
	return pcrs
}
