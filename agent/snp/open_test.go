package snp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestOpen(t *testing.T) {
	empty := t.TempDir()
	devWithSevGuest := t.TempDir()
	if err := os.WriteFile(filepath.Join(devWithSevGuest, "sev-guest"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sysWithPort := fakeSys(t, map[string]string{"vport1p1": DefaultPort})
	tsm := fakeTSM(t, "sev_guest", policyDefault, false, nil)
	tests := []struct {
		name     string
		provider string
		opts     Options
		want     string
		err      error
	}{
		{"auto prefers configfs", NameAuto, Options{TSM: tsm, SevGuest: &fakeDevice{}}, NameConfigfs, nil},
		{"auto falls back to sev-guest", NameAuto, Options{SysRoot: empty, SevGuest: &fakeDevice{}}, NameSevGuest, nil},
		{"auto never picks the emulator", NameAuto, Options{SysRoot: sysWithPort, DevRoot: empty}, "", ErrNoProvider},
		{"explicit emulated", NameEmulated, Options{SysRoot: sysWithPort}, NameEmulated, nil},
		{"explicit configfs", NameConfigfs, Options{TSM: tsm}, NameConfigfs, nil},
		{"unknown", "tpm", Options{}, "", ErrUnknownProvider},
		{"empty name", "", Options{}, "", ErrUnknownProvider},
	}
	if runtime.GOOS == "linux" {
		tests = append(tests, struct {
			name     string
			provider string
			opts     Options
			want     string
			err      error
		}{"auto finds the device node", NameAuto, Options{SysRoot: empty, DevRoot: devWithSevGuest}, NameSevGuest, nil})
	}
	for _, tc := range tests {
		p, err := Open(tc.provider, tc.opts)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || p != nil {
				t.Errorf("%s: Open = %v, %v; want %v", tc.name, p, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Open: %v", tc.name, err)
			continue
		}
		if got := fmt.Sprint(p); got != tc.want {
			t.Errorf("%s: Open picked %q, want %q", tc.name, got, tc.want)
		}
	}
}
