// Package config owns cvminit's configuration: the typed Config that
// `cvmctl initramfs build` validates from the operator's YAML and writes as
// JSON into the initramfs (so that it is part of the SNP launch measurement),
// the strict decoder the guest uses to read it back, and the parser for the
// few kernel command-line keys the guest honours.
//
// Everything here is pure: no file or device access. The guest reads the file
// at Path and calls Decode; the build tool calls ParseYAML and JSON.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Path is where the configuration lives inside the initramfs.
const Path = "/etc/cvminit/config.json"

// Version is the only configuration format version this package reads.
const Version = 1

// MaxSize bounds the size of a configuration document, JSON or YAML.
const MaxSize = 1 << 20

// Config is the whole guest configuration. JSON member names are the YAML
// keys the operator writes; see each field for its meaning and default.
type Config struct {
	// Version of the format; must be 1.
	Version int `json:"version"`
	// Debug marks a debug image (`cvmctl initramfs build --debug`). Only a
	// debug image may set broker.insecure_http or
	// boot.debug_shell_after_failure. A debug image has its own launch
	// digest, so a production key-release policy never matches it.
	Debug bool `json:"debug,omitempty"`
	// Attestation selects where SNP reports come from.
	Attestation Attestation `json:"attestation"`
	// TPM says whether the boot is measured into a vTPM (see TPM).
	TPM TPM `json:"tpm"`
	// Broker is the key broker that releases the disk key.
	Broker Broker `json:"broker"`
	// Network brings up the interface the broker is reached through.
	Network Network `json:"network"`
	// Disk describes the encrypted root disk.
	Disk Disk `json:"disk"`
	// Modules are the kernel module files to load, in order (dependencies
	// first), as absolute paths inside the initramfs. Computed at build time.
	Modules []string `json:"modules"`
	// Boot holds the deadline, the failure policy and the init to run.
	Boot Boot `json:"boot"`
	// Log sets the default log level.
	Log Log `json:"log"`
}

// Attestation selects the SNP report provider.
type Attestation struct {
	// Provider is "auto" (default: configfs-tsm, then /dev/sev-guest),
	// "configfs-tsm", "sev-guest" or "emulated" (the snpemu emulator over a
	// virtio-serial port; never chosen by "auto").
	Provider string `json:"provider"`
	// EmulatorPort is the virtio-serial port name of the emulator; default
	// "cvminit.snp". Used only with provider "emulated".
	EmulatorPort string `json:"emulator_port,omitempty"`
}

// Broker locates and pins the key broker.
type Broker struct {
	// URL is the broker's base URL, scheme://host[:port] with no path,
	// e.g. "https://10.0.2.2:8443". Required.
	URL string `json:"url"`
	// CAPEM is the PEM text of the CA certificate(s) the broker's TLS
	// certificate must chain to. Required for https; there is no fallback
	// to system roots.
	CAPEM string `json:"ca_pem,omitempty"`
	// InsecureHTTP permits an http:// URL. Debug images only: the broker's
	// identity is then not authenticated at all.
	InsecureHTTP bool `json:"insecure_http,omitempty"`
	// Resource is the KBS resource path repository/type/tag; default
	// "default/disk/root".
	Resource string `json:"resource"`
	// Attempts bounds the protocol runs tried; default 5, at most 50.
	Attempts int `json:"attempts"`
	// Timeout bounds the whole key fetch, all attempts included; default
	// 60s. It cannot exceed boot.deadline.
	Timeout Duration `json:"timeout"`
}

// Network configures one interface.
type Network struct {
	// Mode is "dhcp" (default) or "static".
	Mode string `json:"mode"`
	// Interface is the kernel name of the interface; default "eth0" (there
	// is no udev in the initramfs to rename virtio-net devices).
	Interface string `json:"interface"`
	// Address is the static address in CIDR form, e.g. "10.0.2.15/24".
	// Required for static, forbidden for dhcp.
	Address string `json:"address,omitempty"`
	// Gateway is the static default gateway; optional, static only.
	Gateway string `json:"gateway,omitempty"`
	// DNS lists static name servers (IP addresses); optional, static only.
	DNS []string `json:"dns,omitempty"`
}

// Disk describes the LUKS2 root disk and its file system.
//
// With disk.integrity "verity" (the default) the file system inside the
// decrypted volume is followed by a dm-verity hash tree (made by `cvmctl
// seal`; its root hash travels with the disk key in the broker's payload):
// dm-crypt gives secrecy, dm-verity integrity, and every block read is
// checked against the root hash; a block that fails is an I/O error. The
// root is then read-only, and cvminit gives it writable places in memory,
// lost at power off: a tmpfs on /tmp, and an overlayfs over /etc and /var
// whose upper layers live on a tmpfs mounted at /run/cvminit-rw (each only
// when that directory exists in the root). An erofs root gets the same.
type Disk struct {
	// LUKSUUID is the UUID in the LUKS2 header (as cvmctl seal recorded
	// it). The guest scans block devices for it. Required.
	LUKSUUID string `json:"luks_uuid"`
	// Name is the device-mapper name of the device the root file system is
	// mounted from; default "root", giving /dev/mapper/root (the root= of
	// the OK status line). With dm-verity that is the verity device and
	// the dm-crypt device beneath it is <name>-crypt; without, it is the
	// dm-crypt device.
	Name string `json:"name"`
	// FSType is "ext4" (default) or "erofs".
	FSType string `json:"fstype"`
	// Options are mount options, comma-separated (e.g. "noatime"). With
	// dm-verity the root is always mounted read-only, so "rw" is refused.
	Options string `json:"options,omitempty"`
	// Integrity is "verity" (default) or "none". With "verity" the
	// broker's payload must describe the disk's dm-verity tree, or the
	// boot fails (INTEGRITY_FAILED) before the disk is unlocked. "none" is
	// an explicit opt-out: the root is then used without integrity
	// protection, so the host can flip ciphertext blocks unnoticed
	// (SECURITY.md H6 stays open); a payload that describes a tree is used
	// all the same (integrity is never dropped), giving a read-only root.
	Integrity string `json:"integrity"`
	// VerityRootHash, when set (64 lower-case hex digits), pins the
	// dm-verity root hash in the measured config: the payload's root hash
	// must equal it. Optional; only with integrity "verity".
	VerityRootHash string `json:"verity_root_hash,omitempty"`
}

// Boot holds the overall deadline, the failure policy and the next init.
type Boot struct {
	// Deadline bounds the whole boot, PID 1 start to switch_root; default
	// 90s, between 1s and 1h.
	Deadline Duration `json:"deadline"`
	// OnFailure is "poweroff" (default) or "reboot".
	OnFailure string `json:"on_failure"`
	// FailureDelay is how long to wait after the failure status line was
	// flushed to the console before powering off; default 0, at most 60s.
	FailureDelay Duration `json:"failure_delay"`
	// Init is the program executed in the new root; default "/sbin/init".
	Init string `json:"init"`
	// MinMemoryMiB is the least memory the VM must have, in MiB of
	// MemTotal (/proc/meminfo: the RAM the kernel manages, about 50 MiB
	// less than the VM's RAM with the Debian kernel); with less the boot
	// fails early with MEMORY_LOW instead of running out of memory later.
	// Default 128 (a 256 MiB VM has about 200), between 64 and 1048576.
	MinMemoryMiB int `json:"min_memory_mib"`
	// DebugShellAfterFailure allows a serial shell after a failure. Debug
	// images only.
	DebugShellAfterFailure bool `json:"debug_shell_after_failure,omitempty"`
}

// Log sets logging defaults.
type Log struct {
	// Level is "debug", "info" (default), "warn" or "error". The kernel
	// command line key cvminit.log overrides it.
	Level string `json:"level"`
}

// ErrInvalid is wrapped by every validation and decoding error.
var ErrInvalid = errors.New("invalid configuration")

// Decode reads the configuration the guest finds at Path: strict JSON
// (unknown members and trailing data are errors), defaults applied to the
// members left out, then validated.
func Decode(b []byte) (*Config, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(b), MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	return finish(&c)
}

// ParseYAML reads the operator's YAML: strict (unknown and duplicate keys
// are errors), defaults applied, then validated.
func ParseYAML(b []byte) (*Config, error) { return ParseYAMLWith(b, nil) }

// ParseYAMLWith is ParseYAML with set, if not nil, applied to the decoded
// document before defaults and validation (command-line overrides).
func ParseYAMLWith(b []byte, set func(*Config)) (*Config, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(b), MaxSize)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("%w: decoding YAML: %w", ErrInvalid, err)
	}
	c.TPM.fromYAML()
	if set != nil {
		set(&c)
	}
	return finish(&c)
}

func finish(c *Config) (*Config, error) {
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// JSON renders c as the document written into the image: indented with two
// spaces, members in declaration order, ending with a newline. The same
// Config always gives the same bytes.
func (c *Config) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	return append(b, '\n'), nil
}
