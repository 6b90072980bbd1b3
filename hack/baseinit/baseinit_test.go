package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A config as cvmctl initramfs build writes it (abridged): the baseline
// reads the modules, disk.fstype and boot.init and ignores the rest.
const cvminitConfig = `{"version":1,"attestation":{"provider":"emulated"},"broker":{"url":"https://10.0.2.2:8443",
"resource":"default/disk/root","attempts":3,"timeout":"10s"},"network":{"mode":"static","interface":"eth0"},
"disk":{"luks_uuid":"0de0c0de-0000-4000-8000-00000000de00","name":"root","fstype":"ext4","integrity":"verity"},
"modules":["/lib/modules/6.1.0-40-amd64/kernel/drivers/virtio/virtio_pci.ko",
"/lib/modules/6.1.0-40-amd64/kernel/fs/ext4/ext4.ko"],
"boot":{"deadline":"1m0s","on_failure":"poweroff","failure_delay":"0s","init":"/sbin/init"},"log":{"level":"info"}}`

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]byte(cvminitConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Modules) != 2 || !strings.HasSuffix(c.Modules[1], "/ext4.ko") || c.Disk.FSType != "ext4" || c.Boot.Init != "/sbin/init" {
		t.Errorf("got %+v", c)
	}
}

func TestParseConfigRefuses(t *testing.T) {
	for name, js := range map[string]string{
		"not json":        `{"modules":`,
		"relative module": `{"modules":["lib/x.ko"],"disk":{"fstype":"ext4"},"boot":{"init":"/sbin/init"}}`,
		"unclean module":  `{"modules":["/lib/../x.ko"],"disk":{"fstype":"ext4"},"boot":{"init":"/sbin/init"}}`,
		"no fstype":       `{"modules":[],"disk":{},"boot":{"init":"/sbin/init"}}`,
		"relative init":   `{"modules":[],"disk":{"fstype":"ext4"},"boot":{"init":"init"}}`,
	} {
		if _, err := parseConfig([]byte(js)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIsExt4(t *testing.T) {
	hdr := make([]byte, headerSize)
	if isExt4(hdr) {
		t.Error("zeros taken for ext4")
	}
	hdr[1080], hdr[1081] = 0x53, 0xef // s_magic 0xEF53, little-endian, at 1024+0x38
	if !isExt4(hdr) {
		t.Error("superblock magic not recognised")
	}
	if isExt4(hdr[:1081]) {
		t.Error("a header too short to hold the magic taken for ext4")
	}
}

func TestPickRoot(t *testing.T) {
	ext4 := map[string]bool{"vda": true, "dm-0": true, "loop0": true, "vdc": true}
	is := func(n string) bool { return ext4[n] }
	if got, err := pickRoot([]string{"dm-0", "loop0", "vda", "vdb", "sr0"}, is); err != nil || got != "vda" {
		t.Errorf("pickRoot = %q, %v; want vda (dm-0 and loop0 skipped)", got, err)
	}
	if _, err := pickRoot([]string{"vdb", "sr0"}, is); !errors.Is(err, errNoRoot) {
		t.Errorf("no ext4 device: err %v, want errNoRoot", err)
	}
	if _, err := pickRoot([]string{"vda", "vdc"}, is); err == nil || errors.Is(err, errNoRoot) || !strings.Contains(err.Error(), "vda, vdc") {
		t.Errorf("two ext4 devices: err %v, want both named", err)
	}
}

func TestPollSchedule(t *testing.T) {
	var got []time.Duration
	for p := pollFirst; len(got) < 6; p = nextPause(p) {
		got = append(got, p)
	}
	want := []time.Duration{50, 100, 200, 400, 500, 500}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("schedule %v, want %v ms", got, want)
		}
	}
}
