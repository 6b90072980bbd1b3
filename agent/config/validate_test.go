package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsValid(t *testing.T) {
	if err := validConfig(t).Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	keyPEM := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
	tests := []struct {
		field  string
		mutate func(c *Config)
	}{
		{"version", func(c *Config) { c.Version = 0 }},
		{"attestation.provider", func(c *Config) { c.Attestation.Provider = "tpm" }},
		{"attestation.emulator_port", func(c *Config) { c.Attestation.EmulatorPort = "../x" }},
		{"attestation.emulator_port", func(c *Config) { c.Attestation.Provider = "auto" }},
		{"tpm.mode", func(c *Config) { c.TPM.Mode = "" }},
		{"tpm.mode", func(c *Config) { c.TPM.Mode = "on" }},
		{"tpm.mode", func(c *Config) { c.TPM.Mode = "Auto" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "ftp://10.0.2.2" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "https://10.0.2.2/kbs" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "https://u:p@10.0.2.2" }},
		{"broker.url", func(c *Config) { c.Broker.URL = "http://10.0.2.2:8080" }},
		{"broker.insecure_http", func(c *Config) { c.Broker.InsecureHTTP = true }},
		{"broker.insecure_http", func(c *Config) {
			c.Broker.URL, c.Broker.InsecureHTTP = "http://10.0.2.2", true // not a debug image
		}},
		{"broker.ca_pem", func(c *Config) { c.Broker.CAPEM = "" }},
		{"broker.ca_pem", func(c *Config) { c.Broker.CAPEM = "not pem" }},
		{"broker.ca_pem", func(c *Config) { c.Broker.CAPEM = keyPEM }},
		{"broker.ca_pem", func(c *Config) { c.Broker.CAPEM += "trailing" }},
		{"broker.ca_pem", func(c *Config) {
			c.Broker.CAPEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}},
		{"broker.resource", func(c *Config) { c.Broker.Resource = "default/disk" }},
		{"broker.resource", func(c *Config) { c.Broker.Resource = "default/../root" }},
		{"broker.resource", func(c *Config) { c.Broker.Resource = "default/disk/ro ot" }},
		{"broker.attempts", func(c *Config) { c.Broker.Attempts = 0 }},
		{"broker.attempts", func(c *Config) { c.Broker.Attempts = 51 }},
		{"broker.timeout", func(c *Config) { c.Broker.Timeout = 0 }},
		{"broker.timeout", func(c *Config) { c.Broker.Timeout = Duration(91 * time.Second) }},
		{"network.mode", func(c *Config) { c.Network.Mode = "ppp" }},
		{"network.interface", func(c *Config) { c.Network.Interface = "eth0; reboot" }},
		{"network.interface", func(c *Config) { c.Network.Interface = "averyveryverylongname" }},
		{"network.address", func(c *Config) { c.Network.Address = "10.0.2.15" }},
		{"network.gateway", func(c *Config) { c.Network.Gateway = "192.168.1.1" }},
		{"network.gateway", func(c *Config) { c.Network.Gateway = "gw" }},
		{"network.dns[0]", func(c *Config) { c.Network.DNS = []string{"dns.example"} }},
		{"network", func(c *Config) { c.Network.Mode = "dhcp" }},
		{"disk.luks_uuid", func(c *Config) { c.Disk.LUKSUUID = "" }},
		{"disk.luks_uuid", func(c *Config) { c.Disk.LUKSUUID = "0b9f1c2e4a5d4e6f8a7b9c0d1e2f3a4b" }},
		{"disk.name", func(c *Config) { c.Disk.Name = "../root" }},
		{"disk.fstype", func(c *Config) { c.Disk.FSType = "btrfs" }},
		{"disk.options", func(c *Config) { c.Disk.Options = "ro nosuid" }},
		{"disk.options", func(c *Config) { c.Disk.Options = "noatime,rw" }},
		{"disk.integrity", func(c *Config) { c.Disk.Integrity = "dm-verity" }},
		{"disk.integrity", func(c *Config) { c.Disk.Integrity = "" }},
		{"disk.verity_root_hash", func(c *Config) { c.Disk.VerityRootHash = strings.Repeat("AB", 32) }},
		{"disk.verity_root_hash", func(c *Config) { c.Disk.VerityRootHash = strings.Repeat("a", 63) }},
		{"disk.verity_root_hash", func(c *Config) { c.Disk.VerityRootHash = strings.Repeat("a", 65) }},
		{"disk.verity_root_hash", func(c *Config) {
			c.Disk.Integrity, c.Disk.VerityRootHash = "none", strings.Repeat("ab", 32)
		}},
		{"modules[0]", func(c *Config) { c.Modules = []string{"virtio.ko"} }},
		{"modules[0]", func(c *Config) { c.Modules = []string{"/lib/../etc/x.ko"} }},
		{"modules[0]", func(c *Config) { c.Modules = []string{"/lib/x.so"} }},
		{"modules[1]", func(c *Config) { c.Modules = []string{"/a.ko", "/a.ko"} }},
		{"modules", func(c *Config) { c.Modules = make([]string, MaxModules+1) }},
		{"boot.deadline", func(c *Config) { c.Boot.Deadline = Duration(time.Millisecond) }},
		{"boot.deadline", func(c *Config) { c.Boot.Deadline = Duration(2 * time.Hour) }},
		{"boot.on_failure", func(c *Config) { c.Boot.OnFailure = "shell" }},
		{"boot.failure_delay", func(c *Config) { c.Boot.FailureDelay = Duration(-time.Second) }},
		{"boot.failure_delay", func(c *Config) { c.Boot.FailureDelay = Duration(2 * time.Minute) }},
		{"boot.min_memory_mib", func(c *Config) { c.Boot.MinMemoryMiB = 0 }},
		{"boot.min_memory_mib", func(c *Config) { c.Boot.MinMemoryMiB = MinMinMemoryMiB - 1 }},
		{"boot.min_memory_mib", func(c *Config) { c.Boot.MinMemoryMiB = MaxMinMemoryMiB + 1 }},
		{"boot.init", func(c *Config) { c.Boot.Init = "sbin/init" }},
		{"boot.init", func(c *Config) { c.Boot.Init = "/sbin/../bin/sh" }},
		{"boot.init", func(c *Config) { c.Boot.Init = "/sbin/init single" }},
		{"boot.debug_shell_after_failure", func(c *Config) { c.Boot.DebugShellAfterFailure = true }},
		{"log.level", func(c *Config) { c.Log.Level = "trace" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !hasField(err, tt.field) {
				t.Errorf("Validate = %v, want an error for field %s", err, tt.field)
			}
		})
	}
}

func hasField(err error, field string) bool {
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

func TestValidateDebugImage(t *testing.T) {
	c := validConfig(t)
	c.Debug = true
	c.Broker.URL, c.Broker.InsecureHTTP, c.Broker.CAPEM = "http://10.0.2.2:8080", true, ""
	c.Boot.DebugShellAfterFailure = true
	if err := c.Validate(); err != nil {
		t.Fatalf("debug image with http broker and shell: %v", err)
	}
}

func TestValidateReportsAllFields(t *testing.T) {
	c := validConfig(t)
	c.Version, c.Log.Level, c.Disk.FSType = 3, "loud", "ntfs"
	err := c.Validate()
	for _, f := range []string{"version", "log.level", "disk.fstype"} {
		if err == nil || !hasField(err, f) {
			t.Errorf("Validate = %v, want field %s reported", err, f)
		}
	}
	if !strings.Contains(err.Error(), "config: disk.fstype: ") {
		t.Errorf("message %q does not name the field", err)
	}
}

// TestValidateIntegrity: the accepted combinations of disk.integrity,
// disk.verity_root_hash and disk.options, and one error per bad field.
func TestValidateIntegrity(t *testing.T) {
	pin := strings.Repeat("0f", 32)
	ok := []Disk{
		{Integrity: "verity"},
		{Integrity: "verity", VerityRootHash: pin, Options: "ro,noatime"},
		{Integrity: "none", Options: "rw"},
		{Integrity: "none"},
	}
	for _, d := range ok {
		c := validConfig(t)
		c.Disk.Integrity, c.Disk.VerityRootHash, c.Disk.Options = d.Integrity, d.VerityRootHash, d.Options
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(integrity %q, pin %q, options %q) = %v", d.Integrity, d.VerityRootHash, d.Options, err)
		}
	}
	c := validConfig(t)
	c.Disk.Integrity, c.Disk.VerityRootHash = "none", "XYZ" // bad text and the wrong mode: one error
	err := c.Validate()
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 1 || !hasField(err, "disk.verity_root_hash") {
		t.Errorf("Validate = %v, want exactly one error, for disk.verity_root_hash", err)
	}
}

// TestMinMemoryBounds accepts boot.min_memory_mib at both ends of its range
// and takes it from the operator's YAML.
func TestMinMemoryBounds(t *testing.T) {
	for _, mib := range []int{MinMinMemoryMiB, MaxMinMemoryMiB} {
		c := validConfig(t)
		c.Boot.MinMemoryMiB = mib
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(min_memory_mib %d) = %v", mib, err)
		}
	}
	c, err := ParseYAML([]byte(minimalYAML(t) + "boot:\n  min_memory_mib: 300\n"))
	if err != nil || c.Boot.MinMemoryMiB != 300 {
		t.Errorf("ParseYAML(min_memory_mib: 300) = %v, %v; want 300", c, err)
	}
}
