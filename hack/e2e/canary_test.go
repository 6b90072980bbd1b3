//go:build linux

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/klog"
)

// verboseCmdline, appended to the kernel command line, keeps every line
// cvminit writes to the kernel log: no rate limit on /dev/kmsg (which
// otherwise drops all but about ten lines), and debug lines.
const verboseCmdline = " printk.devkmsg=on cvminit.log=debug"

// verboseEnv returns e with verboseCmdline (a launch digest and broker
// policy of its own).
func verboseEnv(t *testing.T, e *Env) *Env {
	t.Helper()
	c := *e
	c.Opts.Cmdline += verboseCmdline
	v, err := c.Repin(context.Background(), "initramfs-verbose", func(*Guest) {})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// base64Line is one line of busybox base64's output.
var base64Line = regexp.MustCompile(`^[A-Za-z0-9+/=]+$`)

// canaryDump returns the canary dump the confidential OS printed between
// DumpBegin and DumpEnd, decoded and decompressed.
func canaryDump(t *testing.T, r *Result) []byte {
	t.Helper()
	texts := lineTexts(r.Lines)
	begin, end := slices.Index(texts, DumpBegin), slices.Index(texts, DumpEnd)
	if begin < 0 || end < begin {
		t.Fatalf("no %s ... %s block on the serial console (lines %d, %d)", DumpBegin, DumpEnd, begin, end)
	}
	var b64 strings.Builder
	for _, l := range texts[begin+1 : end] {
		if !base64Line.MatchString(l) {
			t.Fatalf("canary dump line %q is not base64", l)
		}
		b64.WriteString(l)
	}
	gz, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		t.Fatalf("canary dump: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("canary dump: %v", err)
	}
	dump, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("canary dump: %v", err)
	}
	t.Logf("canary dump: %d base64 bytes, %d bytes decoded", b64.Len(), len(dump))
	return dump
}

// dumpItems splits a canary dump into its items by name.
func dumpItems(dump []byte) map[string][]byte {
	items := map[string][]byte{}
	dump = append([]byte("\n"), dump...)
	for _, part := range bytes.Split(dump, []byte("\n"+DumpHeader))[1:] {
		line, content, _ := bytes.Cut(part, []byte("\n"))
		items[strings.TrimSuffix(string(line), DumpHeaderEnd)] = content
	}
	return items
}

// wantNoCanary checks that the disk key is nowhere in what the
// confidential OS can see after switch_root: its kernel log, every
// process's environment and command line, and the files in /run, /tmp,
// /etc and /var. So that it cannot pass by dumping nothing, the dump must
// hold what is certainly there: cvminit's OK status line in the kernel
// log (and a debug line), PID 1 running /sbin/init, the environment of
// the dumping processes, the secret from the encrypted disk, and the files
// the OS wrote to /etc, /var and /tmp and their overlay's upper layer in
// /run.
func wantNoCanary(t *testing.T, e *Env, r *Result) {
	t.Helper()
	dump := canaryDump(t, r)
	if leaks := Leaks(dump, e.Key); len(leaks) > 0 {
		t.Errorf("the disk key appears in the confidential OS's view as %v", leaks)
		for name, content := range dumpItems(dump) {
			if l := Leaks(content, e.Key); len(l) > 0 {
				t.Errorf("  in %s as %v", name, l)
			}
		}
	}
	items := dumpItems(dump)
	for _, want := range []string{klog.StatusPrefix + "OK", "cvminit: step start step=switchroot", "vmhwm_kib="} {
		if !bytes.Contains(items["dmesg"], []byte(want)) {
			t.Errorf("the dumped kernel log lacks %q", want)
		}
	}
	if args := strings.Split(string(items["/proc/1/cmdline"]), "\x00"); !slices.Contains(args, "/sbin/init") {
		t.Errorf("dumped /proc/1/cmdline %q does not run /sbin/init", items["/proc/1/cmdline"])
	}
	for _, name := range []string{"/etc/w", "/var/w", "/tmp/w", "/run/cvminit-rw/etc/upper/w"} {
		if _, ok := items[name]; !ok {
			t.Errorf("the dump lacks %s, which the OS wrote", name)
		}
	}
	if !bytes.Contains(items["/etc/secret-marker"], []byte(e.Secret)) {
		t.Errorf("the dump lacks /etc/secret-marker with the secret")
	}
	var procs, envs int
	for name, content := range items {
		if strings.HasSuffix(name, "/environ") {
			procs++
			if bytes.Contains(content, []byte("PATH=")) {
				envs++
			}
		}
	}
	if procs < 2 || envs == 0 {
		t.Errorf("the dump has %d environ items, %d with PATH=; want some of both", procs, envs)
	}
	t.Logf("canary dump: %d items (%d processes), no trace of the disk key", len(items), procs)
}
