package snp

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
)

// fakeTSM is go-configfs-tsm's fake configfs with an SNP-like report
// attribute: outblob is a report whose REPORT_DATA is the written inblob.
func fakeTSM(t *testing.T, provider string, policy uint64, flip bool, aux []byte) configfsi.Client {
	sub := faketsm.ReportV7(0)
	base := sub.ReadAttr
	sub.ReadAttr = func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
		switch attr {
		case "provider":
			return []byte(provider + "\n"), nil
		case "auxblob":
			return aux, nil
		case "outblob":
			if lvl := strings.TrimSpace(string(e.InAttrs["privlevel"].Value)); lvl != "0" {
				t.Errorf("privlevel = %q, want 0", lvl)
			}
			var rd [64]byte
			copy(rd[:], e.InAttrs["inblob"].Value)
			if flip {
				rd[5] ^= 1
			}
			return synthReport(rd, policy, 0), nil
		}
		return base(e, attr)
	}
	return &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": sub}}
}

func TestConfigfs(t *testing.T) {
	rd := data(0x40)
	tests := []struct {
		name     string
		provider string
		policy   uint64
		flip     bool
		aux      []byte
		want     error
		wantAux  int
	}{
		{"ok", "sev_guest", policyDefault, false, []byte{9, 9}, nil, 2},
		{"no certs", "sev_guest", policyDefault, false, make([]byte, 0x1000), nil, 0},
		{"tdx", "tdx_guest", policyDefault, false, nil, ErrWrongTSM, 0},
		{"debug", "sev_guest", policyDebug, false, nil, ErrDebugPolicy, 0},
		{"swapped", "sev_guest", policyDefault, true, nil, ErrReportDataMismatch, 0},
	}
	for _, tc := range tests {
		p, err := Open(NameConfigfs, Options{TSM: fakeTSM(t, tc.provider, tc.policy, tc.flip, tc.aux)})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := p.GetReport(context.Background(), rd)
		if tc.want != nil {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || len(ev.Report) != ReportSize || len(ev.CertTable) != tc.wantAux {
			t.Errorf("%s: GetReport = %v, %v", tc.name, ev, err)
		}
	}
}

func TestConfigfsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Configfs{Client: fakeTSM(t, "sev_guest", policyDefault, false, nil)}
	if _, err := p.GetReport(ctx, data(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
}

func TestConfigfsKernelAbsent(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/config/tsm/report"); err == nil {
		t.Skip("this machine has configfs-tsm")
	}
	if _, err := Open(NameConfigfs, Options{}); err == nil {
		t.Fatal("Open(configfs-tsm) succeeded without configfs-tsm")
	}
}
