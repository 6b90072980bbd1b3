package agent

import (
	"context"
	"testing"
	"time"
)

// TestProbeDuringNetwork: the attest probe's report is taken while the
// network is configured (the fake network comes up only once the report
// was asked for), and the attest step uses that probe: one report before
// the broker's, one open of the provider.
func TestProbeDuringNetwork(t *testing.T) {
	h := newHarness(t)
	probed := false
	h.f.netHook = func(context.Context) {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !probed; time.Sleep(time.Millisecond) {
			probed = h.f.called("report")
		}
	}
	if err := h.run(); err != nil {
		t.Fatal(err)
	}
	if !probed {
		t.Error("no probe report while the network was configured")
	}
	if n := h.f.countCalls("report"); n != 2 {
		t.Errorf("%d reports, want 2 (the probe, then the broker's)", n)
	}
}
