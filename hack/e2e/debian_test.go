//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// debianSuite is the Debian release TestDebianRootfsBoots debootstraps.
const debianSuite = "bookworm"

// TestDebianRootfsBoots (issue 6): an unmodified Debian root file system,
// made by debootstrap through hack/seal-image.sh (the README's path),
// sealed, attested and booted: cvminit hands over to systemd on the
// read-only dm-verity root with its writable overlays, and systemd, told by
// the measured command line, reaches poweroff.target and powers off. The
// debootstrapped tree is kept as a tarball in the e2e cache; a run that
// finds it seals the tarball instead (the script's --rootfs path).
func TestDebianRootfsBoots(t *testing.T) {
	e := requireEnv(t)
	if os.Geteuid() != 0 {
		unavailable(t, fmt.Errorf("%w: debootstrap needs root", ErrUnavailable))
	}
	ctx := context.Background()
	cache := filepath.Join(e.Layout.Cache(), "debian-"+debianSuite+"-minbase.tar.gz")
	out := e.path("debian")
	input := []string{"--debootstrap", debianSuite}
	if _, err := os.Stat(cache); err == nil {
		input = []string{"--rootfs", cache}
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf, policy := scriptInputs(t, e, port, "ext4", "debian")
	cmdline := e.Opts.Cmdline + " systemd.unit=poweroff.target"
	args := append([]string{filepath.Join(e.Layout.Root, "hack", "seal-image.sh"), "--config", conf, "--out", out,
		"--store", StoreFor(policy), "--cmdline", cmdline, "--vcpus", strconv.Itoa(vcpus)}, input...)
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Env = append(os.Environ(), "CVMINIT_BIN="+filepath.Dir(e.Bin.Cvmctl), "CVMINIT_ASSETS="+e.Layout.Assets)
	if summary, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seal-image.sh %v: %v\n%s", input, err, summary)
	}
	if input[0] == "--debootstrap" {
		keepTarball(t, filepath.Join(out, "rootfs"), cache)
	}
	r := boot(t, e, "debian", BootOptions{Initrd: filepath.Join(out, "initramfs.img"),
		Disk: filepath.Join(out, "disk.img"), Cmdline: cmdline,
		Broker: &BrokerRun{Policy: policy, TLSDir: e.TLSDir, Port: port}})
	wantOK(t, r)
	for _, want := range []string{"systemd[1]: systemd ", "Debian GNU/Linux 12", "Reached target poweroff.target", "reboot: Power down"} {
		if !bytes.Contains(r.Raw, []byte(want)) {
			t.Errorf("serial output lacks %q: systemd did not run to poweroff.target", want)
		}
	}
}

// keepTarball stores the debootstrapped tree in the cache for later runs.
func keepTarball(t *testing.T, tree, cache string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := cache + ".tmp"
	if out, err := exec.Command("tar", "--numeric-owner", "-C", tree, "-czf", tmp, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar of the debootstrapped tree: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, cache); err != nil {
		t.Fatal(err)
	}
}
