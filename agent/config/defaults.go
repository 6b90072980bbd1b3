package config

import "time"

// Default values ApplyDefaults fills in.
const (
	DefaultProvider     = "auto"
	DefaultEmulatorPort = "cvminit.snp"
	DefaultTPMMode      = TPMAuto
	DefaultResource     = "default/disk/root"
	DefaultAttempts     = 5
	DefaultKeyTimeout   = 60 * time.Second
	DefaultNetMode      = "dhcp"
	DefaultInterface    = "eth0"
	DefaultDiskName     = "root"
	DefaultFSType       = "ext4"
	DefaultIntegrity    = IntegrityVerity
	DefaultDeadline     = 90 * time.Second
	DefaultOnFailure    = "poweroff"
	DefaultInit         = "/sbin/init"
	// DefaultMinMemoryMiB is boot.min_memory_mib: cvminit itself finished
	// with MemTotal 62 MiB and ran out of memory loading modules at 54 MiB
	// (Debian 6.1 kernel under QEMU); twice its need leaves as much again
	// to the confidential OS.
	DefaultMinMemoryMiB = 128
	DefaultLogLevel     = "info"
)

// ApplyDefaults fills every member left at its zero value that has a
// default. It never overwrites a value that is set.
func (c *Config) ApplyDefaults() {
	setString(&c.Attestation.Provider, DefaultProvider)
	if c.Attestation.Provider == "emulated" {
		setString(&c.Attestation.EmulatorPort, DefaultEmulatorPort)
	}
	setString(&c.TPM.Mode, DefaultTPMMode)
	setString(&c.Broker.Resource, DefaultResource)
	if c.Broker.Attempts == 0 {
		c.Broker.Attempts = DefaultAttempts
	}
	setDuration(&c.Broker.Timeout, DefaultKeyTimeout)
	setString(&c.Network.Mode, DefaultNetMode)
	setString(&c.Network.Interface, DefaultInterface)
	setString(&c.Disk.Name, DefaultDiskName)
	setString(&c.Disk.FSType, DefaultFSType)
	setString(&c.Disk.Integrity, DefaultIntegrity)
	if c.Modules == nil {
		c.Modules = []string{}
	}
	setDuration(&c.Boot.Deadline, DefaultDeadline)
	setString(&c.Boot.OnFailure, DefaultOnFailure)
	setString(&c.Boot.Init, DefaultInit)
	if c.Boot.MinMemoryMiB == 0 {
		c.Boot.MinMemoryMiB = DefaultMinMemoryMiB
	}
	setString(&c.Log.Level, DefaultLogLevel)
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setDuration(p *Duration, def time.Duration) {
	if *p == 0 {
		*p = Duration(def)
	}
}
