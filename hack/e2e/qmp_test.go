//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fakeQMP serves one QMP client on a unix socket: it sends greeting, then
// answers the i-th command with answers[i] (events may precede it, one
// JSON object per line) and records the commands.
func fakeQMP(t *testing.T, greeting string, answers [][]string) (string, <-chan []map[string]any) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []map[string]any, 1)
	go func() {
		defer ln.Close()
		var reqs []map[string]any
		defer func() { got <- reqs }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(greeting + "\r\n"))
		dec := json.NewDecoder(bufio.NewReader(c))
		for _, lines := range answers {
			var req map[string]any
			if dec.Decode(&req) != nil {
				return
			}
			reqs = append(reqs, req)
			for _, l := range lines {
				c.Write([]byte(l + "\r\n"))
			}
		}
	}()
	return sock, got
}

const qmpGreeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`

// TestQMPPlugDisk checks the commands PlugDisk sends, that events before
// an answer are skipped and that an error answer is a *QMPError.
func TestQMPPlugDisk(t *testing.T) {
	sock, got := fakeQMP(t, qmpGreeting, [][]string{
		{`{"return": {}}`},
		{`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}`, `{"return": {}}`},
		{`{"error": {"class": "GenericError", "desc": "Bus 'hotplug0' not found"}}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	err = q.PlugDisk(ctx, HotplugPort, "root", "/d/disk.img", true)
	q.Close()
	var qe *QMPError
	if !errors.As(err, &qe) || qe.Command != "device_add" || qe.Class != "GenericError" ||
		qe.Desc != "Bus 'hotplug0' not found" {
		t.Errorf("PlugDisk = %v, want device_add's GenericError", err)
	}
	want := []map[string]any{
		{"execute": "qmp_capabilities"},
		{"execute": "blockdev-add", "arguments": map[string]any{"driver": "raw", "node-name": "root-node",
			"read-only": true, "file": map[string]any{"driver": "file", "filename": "/d/disk.img", "read-only": true}}},
		{"execute": "device_add", "arguments": map[string]any{"driver": "virtio-blk-pci", "drive": "root-node",
			"id": "root", "bus": "hotplug0"}},
	}
	if reqs := <-got; !reflect.DeepEqual(reqs, want) {
		t.Errorf("commands\n%v\nwant\n%v", reqs, want)
	}
}

// TestQMPRefusesNonQMP fails to connect to a socket that does not greet
// like QEMU.
func TestQMPRefusesNonQMP(t *testing.T) {
	sock, _ := fakeQMP(t, `{"hello": 1}`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if q, err := DialQMP(ctx, sock); err == nil {
		q.Close()
		t.Fatal("DialQMP accepted a server without a QMP greeting")
	}
}
