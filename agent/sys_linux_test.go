package agent

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"

	"golang.org/x/sys/unix"

	"github.com/cvminit/cvminit/agent/secret"
)

// The MountFlags values must be the kernel's.
func TestMountFlagsAreLinuxValues(t *testing.T) {
	pairs := []struct {
		ours MountFlags
		unix uintptr
	}{
		{MountReadOnly, unix.MS_RDONLY}, {MountNoSuid, unix.MS_NOSUID}, {MountNoDev, unix.MS_NODEV},
		{MountNoExec, unix.MS_NOEXEC}, {MountNoAtime, unix.MS_NOATIME}, {MountNoDiratime, unix.MS_NODIRATIME},
		{MountRelatime, unix.MS_RELATIME},
	}
	for _, p := range pairs {
		if uintptr(p.ours) != p.unix {
			t.Errorf("flag %#x, kernel value %#x", p.ours, p.unix)
		}
	}
}

// cryptsetupImage makes a 20 MiB LUKS2 image with passphrase key.
func cryptsetupImage(t *testing.T, key []byte) string {
	t.Helper()
	cs, err := exec.LookPath("cryptsetup")
	if err != nil {
		t.Skip("cryptsetup not installed")
	}
	dir := t.TempDir()
	img, keyfile := filepath.Join(dir, "disk.img"), filepath.Join(dir, "key")
	if err := os.WriteFile(keyfile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil || os.Truncate(img, 20<<20) != nil {
		t.Fatal("creating image")
	}
	out, err := exec.Command(cs, "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
		"--pbkdf-force-iterations", "1000", "--uuid", testUUID, "--key-file", keyfile, img).CombinedOutput()
	if err != nil {
		t.Fatalf("cryptsetup luksFormat: %v\n%s", err, out)
	}
	return img
}

// TestUnsealDetached runs the real unseal path on a cryptsetup-made image:
// the metadata region read and checked once, written as a detached header,
// opened by luks.go, and the volume pointed back at the device.
func TestUnsealDetached(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	img := cryptsetupImage(t, key)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	l, err := disk.Check(raw[:16<<20], testUUID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := disk.CheckRegion(raw[:l.Offset], testUUID)
	if err != nil {
		t.Fatal(err)
	}
	req := UnlockRequest{Device: "/dev/vdz", Metadata: m, DeviceSize: uint64(len(raw)),
		Key: secret.FromBytes(bytes.Clone(key)), Name: "root"}
	dir := t.TempDir()
	vol, err := unseal(req, dir)
	if err != nil {
		t.Fatalf("unseal: %v", err)
	}
	if vol.BackingDevice != "/dev/vdz" || vol.StorageOffset != 16<<20 || vol.StorageSize != 4<<20 ||
		vol.StorageEncryption != "aes-xts-plain64" || len(vol.Flags) != 0 {
		t.Errorf("volume = %+v, want /dev/vdz at 16 MiB for 4 MiB, aes-xts-plain64, no flags", vol)
	}
	k := reflect.ValueOf(vol).Elem().FieldByName("key")
	if k.Len() != 64 || bytes.Equal(k.Bytes(), make([]byte, 64)) {
		t.Fatalf("volume key: %d bytes, want 64 non-zero", k.Len())
	}
	wipeVolumeKey(vol)
	if !bytes.Equal(k.Bytes(), make([]byte, 64)) {
		t.Error("wipeVolumeKey left the volume key")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("detached header left behind: %v", ents)
	}
	req.Key = secret.FromBytes([]byte("wrong"))
	if _, err := unseal(req, dir); err == nil {
		t.Error("unseal with the wrong key succeeded")
	}
}

func TestCheckExecutable(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sbin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sbin/init"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sbin/data"), nil, 0o644))
	must(os.Symlink("/sbin/init", filepath.Join(root, "sbin/link")))
	must(os.Symlink("../sbin/./init", filepath.Join(root, "sbin/rel")))
	must(os.Symlink("../../../../../sbin/init", filepath.Join(root, "sbin/dotdot")))
	must(os.Symlink("loop", filepath.Join(root, "sbin/loop")))
	// Outside the root, an executable that must not be found through "..".
	outside := filepath.Join(filepath.Dir(root), "outside-"+filepath.Base(root))
	must(os.WriteFile(outside, nil, 0o755))
	t.Cleanup(func() { os.Remove(outside) })
	must(os.Symlink("../../"+filepath.Base(outside), filepath.Join(root, "sbin/escape")))
	for init, ok := range map[string]bool{"/sbin/init": true, "/sbin/link": true, "/sbin/rel": true,
		"/sbin/dotdot": true, "/sbin/data": false, "/sbin/none": false, "/sbin": false, "/sbin/escape": false,
		"/sbin/loop": false} {
		if err := checkExecutable(root, init); (err == nil) != ok {
			t.Errorf("checkExecutable(%s) = %v, want ok %v", init, err, ok)
		}
	}
}

func TestBlockNames(t *testing.T) {
	for _, n := range []string{"", ".", "..", "../sda", "a/b"} {
		if _, err := (sysBlocks{}).ReadHeader(n, 4096); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("ReadHeader(%q) = %v, want a name error", n, err)
		}
	}
}
