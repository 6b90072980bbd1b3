package agent

import (
	"context"
	"fmt"
)

// stepModules loads the module list computed at build time, in order.
func stepModules(ctx context.Context, s *State) error {
	for _, m := range s.Config.Modules {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("before loading %s: %w", m, err)
		}
		t0 := s.sys.Clock.Now()
		if err := s.sys.Modules.Load(m); err != nil {
			return fmt.Errorf("loading module %s: %w", m, err)
		}
		s.log.Debug("module loaded", "path", m, "ms", s.sys.Clock.Now().Sub(t0).Milliseconds())
	}
	return nil
}
