package agent

import (
	"context"
	"fmt"
)

// stepNetwork starts the attest step's probe report in the background
// (startProbe) and configures the interface the broker is reached through.
// The host controls DHCP, so nothing learnt here is trusted beyond
// reachability: the broker's identity is pinned in the config. It then
// starts opening the broker's TLS connection in the background
// (kbs.Client.Preconnect), so that the TCP and TLS handshakes overlap with
// what is left of the probe; no request is sent on it before the key step.
// A client that cannot be made is left for the key step to report.
func stepNetwork(ctx context.Context, s *State) error {
	startProbe(ctx, s)
	n := s.Config.Network
	got, err := s.sys.Net.Configure(ctx, n)
	if err != nil {
		return fmt.Errorf("configuring %s (%s): %w", n.Interface, n.Mode, err)
	}
	s.log.Info("network up", "iface", n.Interface, "mode", n.Mode, "addr", got)
	if client, err := brokerClient(s); err == nil {
		client.Preconnect()
	}
	return nil
}
