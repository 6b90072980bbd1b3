package agent

import (
	"context"
	"fmt"
)

// stepNetwork configures the interface the broker is reached through. The
// host controls DHCP, so nothing learnt here is trusted beyond reachability:
// the broker's identity is pinned in the config.
func stepNetwork(ctx context.Context, s *State) error {
	n := s.Config.Network
	got, err := s.sys.Net.Configure(ctx, n)
	if err != nil {
		return fmt.Errorf("configuring %s (%s): %w", n.Interface, n.Mode, err)
	}
	s.log.Info("network up", "iface", n.Interface, "mode", n.Mode, "addr", got)
	return nil
}
