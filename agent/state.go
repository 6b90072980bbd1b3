package agent

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/agent/snp"
)

// State is everything the steps produce, in the order they produce it.
// Each step reads what earlier steps left and adds its own part.
type State struct {
	// Config is the measured configuration (step config).
	Config *config.Config
	// ConfigJSON is the exact bytes of the config file Config was decoded
	// from (step config), measured by step tpm. Public data.
	ConfigJSON []byte
	// Cmdline is what the kernel command line asked for (step config).
	Cmdline config.Cmdline
	// TPMStatus is what became of the TPM measurements (step tpm):
	// klog.TPMMeasured, klog.TPMAbsent or klog.TPMOff; the OK status line
	// reports it.
	TPMStatus string
	// Provider is the SNP report provider that passed the probe (step attest).
	Provider snp.Provider
	// Report is the last SNP report sent to the broker (public data).
	Report []byte
	// DiskUUID and DiskIdentity are the LUKS UUID and header identity
	// (disk.Metadata.Identity) the broker released with the key (step key);
	// the unlock step refuses a disk that differs.
	DiskUUID     string
	DiskIdentity string
	// Verity describes the dm-verity tree inside the volume, as released
	// with the key and checked against disk.integrity and
	// disk.verity_root_hash (step key); nil when the payload has none,
	// which only disk.integrity "none" allows. Public data.
	Verity *disk.Verity
	// RootDevice is the block device carrying the LUKS UUID ("/dev/vda").
	RootDevice string
	// Mapped is the unlocked plaintext device: "/dev/mapper/root-crypt"
	// beneath dm-verity, else "/dev/mapper/root" (step unlock).
	Mapped string
	// Verified is the dm-verity device over Mapped ("/dev/mapper/root"),
	// empty without dm-verity (step verity).
	Verified string
	// Timings lists the steps run so far with their durations.
	Timings []Timing

	sys     Sys
	opts    Options
	log     *slog.Logger
	started time.Time
	out     *finalLine
	tpm     measurer
	// broker is the key broker client, made once (brokerClient).
	broker KeyFetcher
	// kmsg is the kernel log writer the log step opened; nil without one.
	kmsg io.Writer
	// modules is set per stage when its modules are loaded (step modules
	// starts them); nil when there are none.
	modules [numStages]*latch
	// probe reports the attest probe the network step started; nil when
	// none did or its result was taken.
	probe <-chan probeResult
	// scout reports the root disk search the key step started; nil when
	// none did or its result was taken.
	scout <-chan scoutResult
	// rootRead is the root device's metadata the scout read, for unlock.
	rootRead *rootRead

	mu    sync.Mutex
	key   *secret.Buffer
	wiped bool
}

// cryptName is the device-mapper name of the dm-crypt device: disk.name,
// or <disk.name>-crypt when a dm-verity device takes disk.name above it.
func (s *State) cryptName() string {
	if s.Verity != nil {
		return s.Config.Disk.Name + "-crypt"
	}
	return s.Config.Disk.Name
}

// rootSource is the device the root file system is mounted from: the
// dm-verity device when there is one, else the dm-crypt device.
func (s *State) rootSource() string {
	if s.Verified != "" {
		return s.Verified
	}
	return s.Mapped
}

// Timing is how long one step took.
type Timing struct {
	Step     string
	Duration time.Duration
}

// Key returns the disk key, or nil before the key step and after wiping.
func (s *State) Key() *secret.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// SetKey stores the disk key. Once secrets were wiped it wipes b instead
// and reports false: a step that outlived the failure path cannot leave key
// material behind.
func (s *State) SetKey(b *secret.Buffer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wiped {
		b.Wipe()
		return false
	}
	s.key.Wipe()
	s.key = b
	return true
}

// WipeSecrets zeroes the disk key and refuses keys from then on.
func (s *State) WipeSecrets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key.Wipe()
	s.key = nil
	s.wiped = true
}

// finalLine prints the single final status line of a boot.
type finalLine struct {
	mu      sync.Mutex
	h       *klog.Handler
	printed bool
}

// print writes st unless a final line was already printed, and reports
// whether it did.
func (f *finalLine) print(st klog.Status) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.printed {
		return false
	}
	f.printed = true
	f.h.Final(st)
	return true
}
