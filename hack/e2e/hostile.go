//go:build linux

package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"

	"github.com/cvminit/cvminit/agent/config"
)

// HostEdit writes a copy of the sealed disk to the work file name with its
// LUKS2 header as the host rewrote it: edit receives both header copies
// (bytes [0, 2 × hdr_size) of the disk, hdr_size read from the primary
// binary header) and returns their replacement, of the same length, which
// is written back in place. The data segment is left as it is.
func (e *Env) HostEdit(name string, edit func(headers []byte) ([]byte, error)) (string, error) {
	out := e.path(name)
	if err := copyFile(e.Disk, out); err != nil {
		return "", fmt.Errorf("copying sealed disk: %w", err)
	}
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bin := make([]byte, 16)
	if _, err := f.ReadAt(bin, 0); err != nil {
		return "", fmt.Errorf("reading binary header of %s: %w", out, err)
	}
	hs := binary.BigEndian.Uint64(bin[8:])
	if hs < 4096 || hs > 4<<20 {
		return "", fmt.Errorf("%s: hdr_size %d out of range", out, hs)
	}
	headers := make([]byte, 2*hs)
	if _, err := f.ReadAt(headers, 0); err != nil {
		return "", fmt.Errorf("reading headers of %s: %w", out, err)
	}
	edited, err := edit(headers)
	if err != nil {
		return "", fmt.Errorf("editing header of %s: %w", out, err)
	}
	if len(edited) != len(headers) {
		return "", fmt.Errorf("edited headers of %d bytes, want %d", len(edited), len(headers))
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		return "", fmt.Errorf("writing headers of %s: %w", out, err)
	}
	return out, f.Close()
}

// PlainDisk copies the unencrypted file-system image of the confidential OS
// (no LUKS at all) to the work file name: what a host attaches in place of
// the sealed disk to run its own OS.
func (e *Env) PlainDisk(name string) (string, error) {
	out := e.path(name)
	if err := copyFile(e.Rootfs, out); err != nil {
		return "", fmt.Errorf("copying plain rootfs: %w", err)
	}
	return out, nil
}

// Repin returns a copy of e whose guest config is changed by mutate and
// whose boots use their own initramfs (work file name.img), launch digest,
// broker policy (pinning only that digest, releasing the same key) and
// broker port, so that they can run alongside e's boots. Opts.KeyTimeout
// and Opts.Deadline follow the changed Guest.
func (e *Env) Repin(ctx context.Context, name string, mutate func(*Guest)) (*Env, error) {
	v := *e
	v.Stages = nil
	var err error
	if v.Port, err = FreePort(); err != nil {
		return nil, err
	}
	v.Guest.BrokerURL = "https://10.0.2.2:" + strconv.Itoa(v.Port)
	mutate(&v.Guest)
	v.Opts.KeyTimeout, v.Opts.Deadline = v.Guest.KeyTimeout, v.Guest.Deadline
	if v.Initrd, err = v.Variant(ctx, name+".img", func(*config.Config) {}); err != nil {
		return nil, err
	}
	if v.Digest, err = Measure(ctx, v.Bin, v.Launch(v.Initrd)); err != nil {
		return nil, err
	}
	v.Policy = v.path(name + "-policy.yaml")
	p := Policy{Measurements: []string{v.Digest}, EmulatorRoot: EmuChain(v.EmuState),
		Resources: map[string]string{Resource: v.Payload}}
	return &v, p.Write(ctx, v.Bin, v.Policy)
}
