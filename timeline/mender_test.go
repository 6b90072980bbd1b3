package timeline

import (
	"strings"
	"testing"
)

// TestMender: kernel messages inside a line are split off; a line a kernel
// message cut is joined back from its start and its rest on a later line
// (kernel lines in between are passed on); a whole protocol line followed
// by a kernel message is not held back; a start still waiting is Rest.
func TestMender(t *testing.T) {
	for _, tt := range []struct {
		name     string
		in, want []string
		rest     string
	}{
		{"split", []string{"cv[    1.000000] b[    2.000000] c", "minit: x"},
			[]string{"[    1.000000] b", "[    2.000000] c", "cvminit: x"}, ""},
		{"firmware output", []string{"Probing EDD... o\x1bc\x1b[2J[    0.000000] Linux version", "cvminit: step=mounts status=ok ms=5"},
			[]string{"Probing EDD... o\x1bc\x1b[2J", "[    0.000000] Linux version", "cvminit: step=mounts status=ok ms=5"}, ""},
		{"cut step line",
			[]string{"cvminit: step=mo[    4.257860] IPv6: link becomes ready\r", "[    4.258000] another\r",
				"unt status=ok ms=135\r", "cvminit: step=wipe status=ok ms=1"},
			[]string{"[    4.257860] IPv6: link becomes ready", "[    4.258000] another",
				"cvminit: step=mount status=ok ms=135", "cvminit: step=wipe status=ok ms=1"}, ""},
		{"whole step line",
			[]string{"cvminit: step=disk status=fail ms=9959[   15.675270] cvminit: boot failed step=disk"},
			[]string{"cvminit: step=disk status=fail ms=9959", "[   15.675270] cvminit: boot failed step=disk"}, ""},
		{"waiting", []string{"cvminit: step=ve[    1.000000] x"}, []string{"[    1.000000] x"}, "cvminit: step=ve"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m Mender
			var got []string
			for _, l := range tt.in {
				got = append(got, m.Line(l)...)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || m.Rest() != tt.rest {
				t.Errorf("lines %q rest %q, want %q rest %q", got, m.Rest(), tt.want, tt.rest)
			}
		})
	}
}

func TestIsKernelLine(t *testing.T) {
	for s, want := range map[string]bool{
		"[    1.000000] x": true, "[12345.123456] ": true, "[1.000000] ": true,
		"[    1.00000] x": false, "[    1.0000000] x": false, "[ .000000] x": false, "[    1.000000]x": false,
		" [    1.000000] x": false, "[": false, "": false, "[    1.000000": false,
	} {
		if got := IsKernelLine(s); got != want {
			t.Errorf("IsKernelLine(%q) = %v, want %v", s, got, want)
		}
	}
}
