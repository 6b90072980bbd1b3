package config

import (
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	good, err := validConfig(f).JSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"boot":{"deadline":"-1s"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Decode accepted a config that does not validate: %v", err)
		}
		out, err := c.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(out); err != nil {
			t.Fatalf("re-decoding JSON(): %v", err)
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{"cvminit.log=debug", `a="b c" cvminit.log="warn"`, "init=/bin/sh -- x", `"""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCmdline(s)
		switch c.LogLevel {
		case "", "debug", "info", "warn", "error":
		default:
			t.Fatalf("LogLevel %q escaped validation", c.LogLevel)
		}
		if err == nil && !strings.Contains(s, CmdlineLog) && c.LogLevel != "" {
			t.Fatalf("log level %q set without the key", c.LogLevel)
		}
		for _, k := range c.Ignored {
			if !strings.HasPrefix(k, "cvminit.") || k == CmdlineLog {
				t.Fatalf("ignored key %q", k)
			}
		}
	})
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte(minimalYAML(f)))
	f.Add([]byte("version: 1\nboot: {deadline: 1s}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseYAML(b)
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("ParseYAML accepted an invalid config: %v", err)
			}
		}
	})
}
