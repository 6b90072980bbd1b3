package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in      string
		want    Cmdline
		wantErr bool
	}{
		{"", Cmdline{}, false},
		{"console=ttyS0 panic=-1\n", Cmdline{}, false},
		{"console=ttyS0 cvminit.log=debug", Cmdline{LogLevel: "debug"}, false},
		{"cvminit.log=debug cvminit.log=warn", Cmdline{LogLevel: "warn"}, false},
		{`cvminit.log="info"`, Cmdline{LogLevel: "info"}, false},
		{`foo="a b cvminit.log=debug" quiet`, Cmdline{}, false},
		{"init=/bin/sh rdinit=/bin/sh rd.break rd.shell", Cmdline{}, false},
		{"cvminit.deadline=1h cvminit.shell=1", Cmdline{Ignored: []string{"cvminit.deadline", "cvminit.shell"}}, false},
		{"quiet -- cvminit.log=debug", Cmdline{}, false},
		{"\tcvminit.log=error\t", Cmdline{LogLevel: "error"}, false},
		{"cvminit.log=trace", Cmdline{}, true},
		{"cvminit.log", Cmdline{}, true},
		{"cvminit.log=", Cmdline{}, true},
		{"xcvminit.log=debug", Cmdline{}, false},
		// Quotes as the kernel's next_arg() reads them: only those opening
		// the parameter or its value (with the closing one) are dropped.
		{`"cvminit.log=warn"`, Cmdline{LogLevel: "warn"}, false},
		{`""cvmi"nit.log=warn`, Cmdline{}, false},
		{`cvmi"nit.log=warn"`, Cmdline{}, false},
		{`"cvminit.log="warn""`, Cmdline{}, true},
		{"quietcvminit.log=info", Cmdline{LogLevel: "info"}, false},
		{"=x cvminit.log=debug", Cmdline{LogLevel: "debug"}, false},
		{`"--" cvminit.log=debug`, Cmdline{}, false},
	}
	for _, tt := range tests {
		got, err := ParseCmdline(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("ParseCmdline(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCmdline(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseCmdlineTooLong(t *testing.T) {
	if _, err := ParseCmdline(strings.Repeat("a ", MaxCmdline)); !errors.Is(err, ErrInvalid) {
		t.Errorf("error = %v, want ErrInvalid", err)
	}
}
