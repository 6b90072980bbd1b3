//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSealImageScript runs hack/seal-image.sh, the operator's path of the
// README's "Sealing an image", on the e2e confidential OS's tree, with an
// ext4 and with an erofs root, and boots what it produced against a broker
// whose store it filled: the guest must come up with the disk's secret,
// read the whole blob and write to its writable places.
func TestSealImageScript(t *testing.T) {
	e := requireEnv(t)
	for _, fs := range []string{"ext4", "erofs"} {
		t.Run(fs, func(t *testing.T) { testSealImageScript(t, e, fs) })
	}
}

func testSealImageScript(t *testing.T, e *Env, fs string) {
	ctx := context.Background()
	tree := e.path("script-rootfs-" + fs)
	deb, err := FetchDeb(ctx, e.Tools, filepath.Join(e.Layout.Cache(), "debs"), BusyboxPackage)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := BuildTree(ctx, e.Tools, tree, Rootfs{BusyboxDeb: deb, Secret: e.Secret}); err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf, policy := scriptInputs(t, e, port, fs, "script-"+fs)
	out := e.path("script-out-" + fs)
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(e.Layout.Root, "hack", "seal-image.sh"), "--config", conf,
		"--out", out, "--rootfs", tree, "--store", StoreFor(policy), "--cmdline", e.Opts.Cmdline,
		"--vcpus", strconv.Itoa(vcpus), "--fs", fs)
	cmd.Env = append(os.Environ(), "CVMINIT_BIN="+filepath.Dir(e.Bin.Cvmctl), "CVMINIT_ASSETS="+e.Layout.Assets)
	summary, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seal-image.sh: %v\n%s", err, summary)
	}
	if _, err := os.Stat(filepath.Join(out, "disk-key.json")); err == nil {
		t.Error("the disk key was left next to the upload artifacts")
	}
	digest, _ := os.ReadFile(filepath.Join(out, "launch-digest"))
	if !strings.Contains(string(summary), strings.TrimSpace(string(digest))) || len(strings.TrimSpace(string(digest))) != 96 {
		t.Errorf("summary does not show the launch digest %q:\n%s", digest, summary)
	}
	r := boot(t, e, "seal-script-"+fs, BootOptions{Initrd: filepath.Join(out, "initramfs.img"),
		Disk: filepath.Join(out, "disk.img"), Broker: &BrokerRun{Policy: policy, TLSDir: e.TLSDir, Port: port}})
	wantOK(t, r)
	wantOSUp(t, e, r)
	wantBlob(t, r, true)
}

// scriptInputs writes what hack/seal-image.sh takes besides the root: the
// Env's guest config with a broker port of its own and the root file system
// type fs, and an empty broker policy and store for the script to fill.
func scriptInputs(t *testing.T, e *Env, port int, fs, name string) (conf, policy string) {
	t.Helper()
	g := e.Guest
	g.BrokerURL = "https://10.0.2.2:" + strconv.Itoa(port)
	cfg, err := g.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Disk.FSType = fs
	y, err := OperatorYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf, policy = e.path(name+"-cvminit.yaml"), e.path(name+"-policy.yaml")
	if err := os.WriteFile(conf, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (Policy{EmulatorRoot: EmuChain(e.EmuState)}).Write(context.Background(), e.Bin, policy); err != nil {
		t.Fatal(err)
	}
	return conf, policy
}
