package snp

import (
	"context"
	"errors"
	"testing"
)

type fakeDevice struct {
	policy   uint64
	vmpl     uint32 // VMPL the report claims
	certs    []byte
	err      error
	askedFor uint32
}

func (f *fakeDevice) ExtendedReport(rd [64]byte, vmpl uint32) ([]byte, []byte, error) {
	f.askedFor = vmpl
	if f.err != nil {
		return nil, nil, f.err
	}
	return synthReport(rd, f.policy, f.vmpl), f.certs, nil
}

func TestSevGuest(t *testing.T) {
	ioctlErr := errors.New("EIO")
	tests := []struct {
		name string
		dev  *fakeDevice
		want error
	}{
		{"ok", &fakeDevice{policy: policyDefault, certs: []byte{1}}, nil},
		{"ioctl error", &fakeDevice{err: ioctlErr}, ioctlErr},
		{"debug", &fakeDevice{policy: policyDebug}, ErrDebugPolicy},
		{"vmpl", &fakeDevice{policy: policyDefault, vmpl: 3}, ErrVMPLMismatch},
	}
	for _, tc := range tests {
		p, err := Open(NameSevGuest, Options{SevGuest: tc.dev})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := p.GetReport(context.Background(), data(7))
		if tc.dev.askedFor != 0 {
			t.Errorf("%s: requested VMPL %d, want 0", tc.name, tc.dev.askedFor)
		}
		if tc.want != nil {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || len(ev.Report) != ReportSize || len(ev.CertTable) != 1 {
			t.Errorf("%s: GetReport = %v, %v", tc.name, ev, err)
		}
	}
}
