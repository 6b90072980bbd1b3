package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cvminit/cvminit/agent/config"
)

// stepConfig reads the measured config and the kernel command line. Only
// the documented command-line keys have any effect (config.ParseCmdline);
// a command line that set Go runtime variables is refused (goVariables).
func stepConfig(_ context.Context, s *State) error {
	if v := goVariables(s.opts.Environ); len(v) > 0 {
		return fmt.Errorf("%w: the kernel command line sets %s, which change cvminit's Go runtime (GODEBUG can weaken TLS)",
			config.ErrInvalid, strings.Join(v, ", "))
	}
	b, err := s.sys.Files.ReadFile(s.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.opts.ConfigPath, err)
	}
	cfg, err := config.Decode(b)
	if err != nil {
		return fmt.Errorf("%s: %w", s.opts.ConfigPath, err)
	}
	s.Config, s.ConfigJSON = cfg, b
	s.Cmdline = readCmdline(s)
	setLevel(s, cfg.Log.Level)
	if s.Cmdline.LogLevel != "" {
		setLevel(s, s.Cmdline.LogLevel)
	}
	logConfig(s.log, cfg)
	return nil
}

// goVariables returns the names of the variables in environ that the Go
// runtime or its libraries read: every name starting with GO.
func goVariables(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "GO") {
			out = append(out, name)
		}
	}
	return out
}

// readCmdline parses the kernel command line; problems are warnings, since
// no key it may hold is needed to boot.
func readCmdline(s *State) config.Cmdline {
	b, err := s.sys.Files.ReadFile(s.opts.CmdlinePath)
	if err != nil {
		s.log.Warn("kernel command line unreadable", "err", err)
		return config.Cmdline{}
	}
	c, err := config.ParseCmdline(string(b))
	if err != nil {
		s.log.Warn("kernel command line", "err", err)
	}
	for _, k := range c.Ignored {
		s.log.Warn("kernel command line key ignored", "key", k)
	}
	return c
}

func setLevel(s *State, name string) {
	if s.opts.Level == nil {
		return
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err == nil {
		s.opts.Level.Set(l)
	}
}

func logConfig(log *slog.Logger, cfg *config.Config) {
	log.Info("config loaded", "provider", cfg.Attestation.Provider, "broker", cfg.Broker.URL,
		"resource", cfg.Broker.Resource, "luks_uuid", cfg.Disk.LUKSUUID, "integrity", cfg.Disk.Integrity,
		"deadline", cfg.Boot.Deadline.D(),
		"debug_image", cfg.Debug)
	if cfg.Broker.InsecureHTTP {
		log.Warn("INSECURE: the key broker is reached over plain http; its identity is not authenticated (debug image)")
	}
}
