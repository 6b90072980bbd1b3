//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// QMP is a minimal client of QEMU's machine protocol (QEMU's
// docs/interop/qmp-spec): one command at a time, asynchronous events
// skipped. Written by hand: the tests need three commands, and QMP is one
// JSON object per answer over a unix socket.
type QMP struct {
	conn net.Conn
	dec  *json.Decoder
	enc  *json.Encoder
}

// QMPError is QEMU's "error" answer to a command.
type QMPError struct {
	Command, Class, Desc string
}

// Error names the command and QEMU's error class and description.
func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// qmpMessage is any message QEMU sends: the greeting, an event or an answer.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Event  string          `json:"event"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

// DialQMP connects to the QMP socket at path, retrying until ctx ends
// while QEMU has not created it yet, reads the greeting and leaves
// capabilities negotiation (qmp_capabilities).
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	var conn net.Conn
	err := waitFor(ctx, "QMP socket "+path, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "unix", path)
		return err
	})
	if err != nil {
		return nil, err
	}
	q := &QMP{conn: conn, dec: json.NewDecoder(conn), enc: json.NewEncoder(conn)}
	if err := q.greeting(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := q.Execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *QMP) greeting(ctx context.Context) error {
	var m qmpMessage
	if err := q.read(ctx, &m); err != nil {
		return fmt.Errorf("reading QMP greeting: %w", err)
	}
	if m.QMP == nil {
		return errors.New("QMP greeting lacks the QMP member")
	}
	return nil
}

// Execute runs command with arguments args (nil: none) and returns QEMU's
// "return" member; an "error" answer is a *QMPError.
func (q *QMP) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	if err := q.deadline(ctx); err != nil {
		return nil, err
	}
	if err := q.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("sending qmp %s: %w", command, err)
	}
	for {
		var m qmpMessage
		if err := q.read(ctx, &m); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, err)
		}
		switch {
		case m.Error != nil:
			return nil, &QMPError{Command: command, Class: m.Error.Class, Desc: m.Error.Desc}
		case m.Return != nil:
			return m.Return, nil
		}
		// an event (or another message without an answer): skip it
	}
}

// read decodes the next message, bounded by ctx's deadline.
func (q *QMP) read(ctx context.Context, m *qmpMessage) error {
	if err := q.deadline(ctx); err != nil {
		return err
	}
	return q.dec.Decode(m)
}

// deadline applies ctx's deadline (none: 10 s) to the connection.
func (q *QMP) deadline(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(10 * time.Second)
	}
	return q.conn.SetDeadline(d)
}

// HotplugPort is the empty PCIe root port of a VM with a QMP socket
// (VM.QMPSocket).
const HotplugPort = "hotplug0"

// PlugDisk hot-plugs the raw image as a virtio-blk disk with the device id
// id into the PCIe port bus: blockdev-add (file driver, read-only if ro)
// and device_add.
func (q *QMP) PlugDisk(ctx context.Context, bus, id, image string, ro bool) error {
	node := id + "-node"
	_, err := q.Execute(ctx, "blockdev-add", map[string]any{"driver": "raw", "node-name": node, "read-only": ro,
		"file": map[string]any{"driver": "file", "filename": image, "read-only": ro}})
	if err != nil {
		return err
	}
	_, err = q.Execute(ctx, "device_add", map[string]any{"driver": "virtio-blk-pci", "drive": node, "id": id,
		"bus": bus})
	return err
}

// Close closes the connection.
func (q *QMP) Close() error { return q.conn.Close() }
