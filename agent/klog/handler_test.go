package klog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/secret"
)

func newTest(level slog.Level) (*slog.Logger, *bytes.Buffer, *bytes.Buffer, *Handler) {
	var kmsg, console bytes.Buffer
	h := New(Options{Kmsg: &kmsg, Console: &console, Level: level})
	return slog.New(h), &kmsg, &console, h
}

func TestHandlerLines(t *testing.T) {
	tests := []struct {
		name       string
		log        func(l *slog.Logger)
		kmsg, cons string
		level      slog.Level
	}{
		{"info", func(l *slog.Logger) { l.Info("network up", "iface", "eth0", "ms", 12) },
			"<6>cvminit: network up iface=eth0 ms=12\n", "", slog.LevelInfo},
		{"debug filtered", func(l *slog.Logger) { l.Debug("noise") }, "", "", slog.LevelInfo},
		{"debug shown", func(l *slog.Logger) { l.Debug("noise") }, "<7>cvminit: noise\n", "", slog.LevelDebug},
		{"warn mirrored", func(l *slog.Logger) { l.Warn("insecure", "url", "http://x") },
			"<4>cvminit: insecure url=http://x\n", "cvminit: WARN insecure url=http://x\n", slog.LevelInfo},
		{"error mirrored", func(l *slog.Logger) { l.Error("boom", "err", errors.New("a b")) },
			"<3>cvminit: boom err=\"a b\"\n", "cvminit: ERROR boom err=\"a b\"\n", slog.LevelInfo},
		{"quoting", func(l *slog.Logger) { l.Info("q", "empty", "", "eq", "a=b", "quote", `say "hi"`) },
			`<6>cvminit: q empty="" eq="a=b" quote="say \"hi\""` + "\n", "", slog.LevelInfo},
		{"newline in message", func(l *slog.Logger) { l.Info("a\nCVMINIT-STATUS v1 OK") },
			`<6>cvminit: a\nCVMINIT-STATUS v1 OK` + "\n", "", slog.LevelInfo},
		{"newline in value", func(l *slog.Logger) { l.Info("m", "v", "x\ny") },
			`<6>cvminit: m v="x\ny"` + "\n", "", slog.LevelInfo},
		{"bytes hidden", func(l *slog.Logger) { l.Info("m", "raw", []byte("KEYKEY")) },
			"<6>cvminit: m raw=\"[6 bytes]\"\n", "", slog.LevelInfo},
		{"secret redacted", func(l *slog.Logger) { l.Info("m", "key", secret.FromBytes([]byte("KEYKEY"))) },
			"<6>cvminit: m key=\"secret(6 bytes)\"\n", "", slog.LevelInfo},
		{"groups and attrs", func(l *slog.Logger) {
			l.With("step", "key").WithGroup("kbs").Info("m", "attempt", 2, slog.Group("g", "a", 1))
		}, "<6>cvminit: m step=key kbs.attempt=2 kbs.g.a=1\n", "", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, kmsg, console, _ := newTest(tt.level)
			tt.log(l)
			if kmsg.String() != tt.kmsg {
				t.Errorf("kmsg = %q\nwant   %q", kmsg, tt.kmsg)
			}
			if console.String() != tt.cons {
				t.Errorf("console = %q\nwant      %q", console, tt.cons)
			}
		})
	}
}

func TestHandlerTruncates(t *testing.T) {
	l, kmsg, _, _ := newTest(slog.LevelInfo)
	l.Info(strings.Repeat("ü", 1000))
	line := strings.TrimSuffix(kmsg.String(), "\n")
	if len(line) > MaxLine || !strings.HasSuffix(line, "ü...") || strings.Count(kmsg.String(), "\n") != 1 {
		t.Errorf("record of %d bytes (limit %d) ends %q", len(line), MaxLine, line[len(line)-10:])
	}
}

func TestProtocolLines(t *testing.T) {
	_, kmsg, console, h := newTest(slog.LevelInfo)
	h.Step("attest", StepOK, 41)
	h.Final(Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TotalMS: 2310})
	wantCons := designStep + "\n" + designOK + "\n"
	if console.String() != wantCons {
		t.Errorf("console = %q\nwant      %q", console, wantCons)
	}
	// Debug priority: the kernel does not echo these to the console at its
	// default log level, so the console shows each protocol line once.
	wantK := "<7>" + designStep + "\n<7>cvminit: " + designOK + "\n"
	if kmsg.String() != wantK {
		t.Errorf("kmsg = %q\nwant   %q", kmsg, wantK)
	}
}

type drainer struct {
	bytes.Buffer
	drained int
}

func (d *drainer) Drain() error { d.drained++; return nil }

func TestLateOutputsAndFlush(t *testing.T) {
	h := New(Options{})
	l := slog.New(h)
	l.Warn("before outputs exist") // must not panic
	var kmsg bytes.Buffer
	var console drainer
	h.SetKmsg(&kmsg)
	h.SetConsole(&console)
	l.Warn("after")
	if kmsg.String() != "<4>cvminit: after\n" || console.String() != "cvminit: WARN after\n" {
		t.Errorf("kmsg %q console %q", kmsg.String(), console.String())
	}
	if err := h.Flush(); err != nil || console.drained != 1 {
		t.Errorf("Flush = %v, drained %d times", err, console.drained)
	}
	// Each protocol line is on the wire before anything else is logged.
	h.Step("key", StepFail, 7698)
	h.Final(Status{Code: CodeBrokerUnreachable, Step: "key", Hint: "h"})
	if console.drained != 3 {
		t.Errorf("console drained %d times after a step and a final line, want 3", console.drained)
	}
}

func TestLevelVar(t *testing.T) {
	var lv slog.LevelVar
	var kmsg bytes.Buffer
	l := slog.New(New(Options{Kmsg: &kmsg, Level: &lv}))
	l.Debug("hidden")
	lv.Set(slog.LevelDebug)
	l.Debug("shown")
	if kmsg.String() != "<7>cvminit: shown\n" {
		t.Errorf("kmsg = %q", kmsg.String())
	}
}

func TestHandlerHidesUnknownTypes(t *testing.T) {
	l, kmsg, _, _ := newTest(slog.LevelInfo)
	type holder struct{ Key []byte }
	l.Info("m", "h", holder{Key: []byte("KEYKEY")}, "list", []string{"a", "b"})
	if want := "<6>cvminit: m h=(klog.holder) list=a,b\n"; kmsg.String() != want {
		t.Errorf("kmsg = %q, want %q", kmsg, want)
	}
}
