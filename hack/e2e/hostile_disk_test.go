//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/disk/disktest"
	"github.com/cvminit/cvminit/agent/klog"
)

// Boot config of the plaintext-disk scenario, whose disk step waits for
// the sealed disk until boot.deadline: cvminit had the key about 2.5 s
// after it started (happy path, 2 slow cores), so 12 s leaves room for a
// loaded host and saves most of the default 60 s.
const (
	plainDeadline   = 12 * time.Second
	plainKeyTimeout = 8 * time.Second
)

// The host-made disk scenarios of issue 4 (SECURITY.md H1/H2), run by
// TestBoot. The disk sealed under the host's own key with the pinned UUID is
// DiskSealedUnderOtherKey there.

// testHeaderCipherNull boots the sealed disk after the host set its data
// segment's cipher to cipher_null-ecb and recomputed both checksums: the
// header is valid LUKS2 and the real key still opens its keyslot, so only
// the guard's allow-list stands between the guest and a plaintext mapping.
func testHeaderCipherNull(t *testing.T, e *Env) {
	ctx := context.Background()
	d, err := e.HostEdit("disk-cipher-null.img", func(h []byte) ([]byte, error) {
		return disktest.Rewrite(h, func(j map[string]any) {
			disktest.Obj(j, "segments", "0")["encryption"] = "cipher_null-ecb"
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// cryptsetup reads the edited header (checksums valid) and unlocks
	// its keyslot with the real key.
	if enc := segmentCipher(t, e, d); enc != "cipher_null-ecb" {
		t.Fatalf("cryptsetup sees segment encryption %q, want cipher_null-ecb", enc)
	}
	if err := CheckKey(ctx, e.Tools, d, e.Key); err != nil {
		t.Fatalf("the real key does not open the edited header: %v", err)
	}
	r := boot(t, e, "cipher-null", BootOptions{Disk: d})
	st, _ := wantFail(t, r, klog.CodeHeaderRejected, "unlock")
	wantNoOS(t, e, r)
	if !strings.Contains(st.Hint, "cipher_null-ecb") {
		t.Errorf("hint %q does not name the refused cipher", st.Hint)
	}
}

// testPlaintextDisk boots with the unencrypted rootfs image (no LUKS
// header, so no LUKS UUID) attached in place of the sealed disk: the guest
// gets its key, finds no disk with the pinned UUID and fails within its
// deadline instead of booting the host's file system.
func testPlaintextDisk(t *testing.T, e *Env) {
	v, err := e.Repin(context.Background(), "initramfs-short-deadline", func(g *Guest) {
		g.Deadline, g.KeyTimeout = plainDeadline, plainKeyTimeout
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.PlainDisk("disk-plaintext.img")
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, v, "plaintext", BootOptions{Disk: d})
	_, line := wantFail(t, r, klog.CodeDiskNotFound, "disk")
	wantNoOS(t, v, r)
	// boot.deadline counts from cvminit's start: the step times add up to
	// at most the deadline (plus 2 s for TCG), and the guest powers off
	// promptly after its status line.
	var total time.Duration
	for _, s := range Steps(r.Lines) {
		total += time.Duration(s.MS) * time.Millisecond
	}
	if lim := v.Opts.Deadline + 2*time.Second; total > lim {
		t.Errorf("steps took %v, want at most %v (boot.deadline %v)", total, lim, v.Opts.Deadline)
	}
	if d := r.Elapsed - line.At; d > 10*time.Second {
		t.Errorf("guest powered off %v after its status line, want within 10s", d)
	}
	t.Logf("plaintext disk: DISK_NOT_FOUND after %v of cvminit steps, %v of QEMU", total,
		line.At.Round(time.Millisecond))
}

// segmentCipher returns the data segment's encryption as cryptsetup reads
// it from disk.
func segmentCipher(t *testing.T, e *Env, disk string) string {
	t.Helper()
	out, err := LUKSMetadata(context.Background(), e.Tools, disk)
	if err != nil {
		t.Fatalf("cryptsetup luksDump: %v", err)
	}
	var m struct {
		Segments map[string]struct {
			Encryption string `json:"encryption"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("luksDump JSON: %v", err)
	}
	return m.Segments["0"].Encryption
}
