package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseYAMLDefaults(t *testing.T) {
	c, err := ParseYAML([]byte(minimalYAML(t)))
	if err != nil {
		t.Fatalf("ParseYAML: %v", err)
	}
	// Expected values are the defaults documented on the Config fields.
	checks := []struct {
		name      string
		got, want any
	}{
		{"attestation.provider", c.Attestation.Provider, "auto"},
		{"attestation.emulator_port", c.Attestation.EmulatorPort, ""},
		{"tpm.mode", c.TPM.Mode, "auto"},
		{"broker.resource", c.Broker.Resource, "default/disk/root"},
		{"broker.attempts", c.Broker.Attempts, 5},
		{"broker.timeout", c.Broker.Timeout.D(), 60 * time.Second},
		{"network.mode", c.Network.Mode, "dhcp"},
		{"network.interface", c.Network.Interface, "eth0"},
		{"disk.name", c.Disk.Name, "root"},
		{"disk.fstype", c.Disk.FSType, "ext4"},
		{"disk.integrity", c.Disk.Integrity, "verity"},
		{"disk.verity_root_hash", c.Disk.VerityRootHash, ""},
		{"modules", len(c.Modules), 0},
		{"boot.deadline", c.Boot.Deadline.D(), 90 * time.Second},
		{"boot.on_failure", c.Boot.OnFailure, "poweroff"},
		{"boot.failure_delay", c.Boot.FailureDelay.D(), time.Duration(0)},
		{"boot.init", c.Boot.Init, "/sbin/init"},
		{"boot.min_memory_mib", c.Boot.MinMemoryMiB, 128},
		{"log.level", c.Log.Level, "info"},
		{"debug", c.Debug, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestEmulatedPortDefault(t *testing.T) {
	c, err := ParseYAML([]byte(minimalYAML(t) + "attestation:\n  provider: emulated\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Attestation.EmulatorPort != "cvminit.snp" {
		t.Errorf("emulator_port = %q, want cvminit.snp", c.Attestation.EmulatorPort)
	}
}

func TestParseYAMLStrict(t *testing.T) {
	tests := map[string]string{
		"unknown key":      "colour: blue\n",
		"unknown nested":   "boot:\n  shell: true\n",
		"duplicate key":    "version: 1\n",
		"duration as int":  "boot:\n  deadline: 90\n",
		"bad duration":     "boot:\n  deadline: soon\n",
		"wrong type":       "modules: /lib/x.ko\n",
		"invalid after ok": "log:\n  level: chatty\n",
	}
	for name, extra := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseYAML([]byte(minimalYAML(t) + extra))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseYAML(+%q) error = %v, want ErrInvalid", extra, err)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	c := validConfig(t)
	b, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(JSON()): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", got, c)
	}
	b2, _ := got.JSON()
	if string(b2) != string(b) {
		t.Errorf("JSON not deterministic:\n%s\n%s", b, b2)
	}
}

// TestJSONLayout pins the exact bytes written into the image (they are part
// of the launch measurement): member names, order and indentation.
func TestJSONLayout(t *testing.T) {
	c := &Config{
		Version: 1,
		Broker: Broker{URL: "http://10.0.2.2:8080", InsecureHTTP: true, Resource: "a/b/c", Attempts: 2,
			Timeout: Duration(30 * time.Second)},
		Debug:   true,
		Network: Network{Mode: "dhcp", Interface: "eth0"},
		Disk: Disk{LUKSUUID: "0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b", Name: "root", FSType: "erofs",
			Integrity: "verity", VerityRootHash: strings.Repeat("5a", 32)},
		Modules: []string{"/m/a.ko"},
		Boot:    Boot{Deadline: Duration(90 * time.Second), OnFailure: "reboot", Init: "/init", MinMemoryMiB: 200},
		Log:     Log{Level: "debug"},
	}
	c.Attestation.Provider = "auto"
	c.TPM.Mode = "required"
	want := `{
  "version": 1,
  "debug": true,
  "attestation": {
    "provider": "auto"
  },
  "tpm": {
    "mode": "required"
  },
  "broker": {
    "url": "http://10.0.2.2:8080",
    "insecure_http": true,
    "resource": "a/b/c",
    "attempts": 2,
    "timeout": "30s"
  },
  "network": {
    "mode": "dhcp",
    "interface": "eth0"
  },
  "disk": {
    "luks_uuid": "0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b",
    "name": "root",
    "fstype": "erofs",
    "integrity": "verity",
    "verity_root_hash": "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
  },
  "modules": [
    "/m/a.ko"
  ],
  "boot": {
    "deadline": "1m30s",
    "on_failure": "reboot",
    "failure_delay": "0s",
    "init": "/init",
    "min_memory_mib": 200
  },
  "log": {
    "level": "debug"
  }
}
`
	got, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("JSON() =\n%s\nwant\n%s", got, want)
	}
	if _, err := Decode(got); err != nil {
		t.Errorf("Decode of the pinned layout: %v", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	good, err := validConfig(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"unknown member":  strings.Replace(string(good), `"version": 1,`, `"version": 1, "shell": true,`, 1),
		"unknown nested":  strings.Replace(string(good), `"init": "/sbin/init"`, `"init": "/sbin/init", "rdinit": "/x"`, 1),
		"trailing object": string(good) + "{}",
		"trailing junk":   string(good) + "x",
		"not an object":   `[]`,
		"empty":           ``,
		"truncated":       string(good[:len(good)/2]),
		"version 2":       strings.Replace(string(good), `"version": 1,`, `"version": 2,`, 1),
		"reserved disk.verity": strings.Replace(string(good), `"integrity": "verity"`,
			`"integrity": "verity", "verity": {"root_hash": "00", "hash_offset": 0}`, 1),
		"too big": `{"log":{"level":"` + strings.Repeat("a", MaxSize) + `"}}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(doc)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Decode error = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestParseYAMLIntegrity reads the integrity keys as an operator writes
// them, and refuses the reserved disk.verity key that earlier versions
// documented.
func TestParseYAMLIntegrity(t *testing.T) {
	pin := strings.Repeat("c3", 32)
	c, err := ParseYAML([]byte(minimalYAML(t) + "  integrity: verity\n  verity_root_hash: " + pin + "\n"))
	if err != nil {
		t.Fatalf("ParseYAML(verity, pinned): %v", err)
	}
	if c.Disk.Integrity != "verity" || c.Disk.VerityRootHash != pin {
		t.Errorf("disk = %+v, want integrity verity and the pinned root hash", c.Disk)
	}
	c, err = ParseYAML([]byte(minimalYAML(t) + "  integrity: none\n  options: rw\n"))
	if err != nil || c.Disk.Integrity != "none" {
		t.Fatalf("ParseYAML(none) = %+v, %v", c, err)
	}
	for _, extra := range []string{
		"  verity:\n    root_hash: " + pin + "\n",
		"  integrity: off\n",
		"  verity_root_hash: " + pin + "\n  integrity: none\n",
	} {
		if _, err := ParseYAML([]byte(minimalYAML(t) + extra)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseYAML(+%q) error = %v, want ErrInvalid", extra, err)
		}
	}
}

// TestParseYAMLTPM reads tpm.mode as an operator writes it, and refuses
// unknown modes and keys.
func TestParseYAMLTPM(t *testing.T) {
	for _, mode := range []string{"auto", "required", "off"} {
		c, err := ParseYAML([]byte(minimalYAML(t) + "tpm:\n  mode: " + mode + "\n"))
		if err != nil || c.TPM.Mode != mode {
			t.Errorf("ParseYAML(tpm.mode %s) = %+v, %v", mode, c, err)
		}
	}
	if c, err := ParseYAML([]byte(minimalYAML(t) + "tpm: {mode: \"off\"}\n")); err != nil || c.TPM.Mode != "off" {
		t.Errorf("ParseYAML(quoted off) = %+v, %v", c, err)
	}
	for _, extra := range []string{"tpm:\n  mode: yes\n", "tpm:\n  mode: on\n", "tpm:\n  mode: auto\n  pcr: 11\n", "tpm: required\n"} {
		if _, err := ParseYAML([]byte(minimalYAML(t) + extra)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseYAML(+%q) error = %v, want ErrInvalid", extra, err)
		}
	}
	// A document written before tpm existed decodes to the default.
	b, err := validConfig(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), "  \"tpm\": {\n    \"mode\": \"auto\"\n  },\n", "", 1)
	if old == string(b) {
		t.Fatal("no tpm member to remove")
	}
	if c, err := Decode([]byte(old)); err != nil || c.TPM.Mode != "auto" {
		t.Errorf("Decode(without tpm) = %+v, %v; want mode auto", c, err)
	}
}
