//go:build unix

package seal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
)

// TestSealQCOW2 seals as qcow2 and checks the image with qemu-img (format,
// virtual size, consistency), then converts it back to raw with qemu-img
// and checks that as TestSealSmallTree checks a raw seal: the guest's
// header guard and key check, the sizes, veritysetup and debugfs on the
// decrypted volume. No raw image is left next to the qcow2 one.
func TestSealQCOW2(t *testing.T) {
	needTools(t)
	needTool(t, toolQemuImg)
	qemuImg := toolPath(t, toolQemuImg)
	r, out := sealT(t, Options{Input: makeTree(t), Format: FormatQCOW2})
	if got, want := dirNames(t, out), []string{"root.img", "root.img.manifest.json", "root.payload.json"}; !slices.Equal(got, want) {
		t.Fatalf("output directory holds %v, want %v", got, want)
	}
	m := readManifest(t, r.Manifest)
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	must(t, json.Unmarshal(cmd(t, qemuImg, "info", "--output=json", r.Image), &info))
	fi, err := os.Stat(r.Image)
	must(t, err)
	if info.Format != "qcow2" || info.VirtualSize != m.Sizes.RawImage || m.Image.Format != FormatQCOW2 ||
		m.Sizes.File != fi.Size() || !strings.HasPrefix(m.Tools["qemu-img"], "qemu-img version") {
		t.Fatalf("qemu-img: %+v; manifest: image %+v, sizes %+v, qemu-img %q", info, m.Image, m.Sizes, m.Tools["qemu-img"])
	}
	cmd(t, qemuImg, "check", "-q", "-f", "qcow2", r.Image)

	p := readPayload(t, r.Payload)
	if _, err := readMetadata(r.Image, p.LUKSUUID); err == nil {
		t.Error("the guest's header guard reads the qcow2 file as a raw LUKS2 disk")
	}
	raw := filepath.Join(t.TempDir(), "raw.img")
	cmd(t, qemuImg, "convert", "-q", "-f", "qcow2", "-O", "raw", r.Image, raw)
	meta := guardAndKey(t, raw, p)
	mr := m
	mr.Sizes.File = m.Sizes.RawImage
	checkSizes(t, raw, mr, meta)
	vol := decryptVolume(t, raw, p.Key.Bytes(), meta.Offset)
	if err := verityVerify(t, vol, m.Verity); err != nil {
		t.Fatalf("veritysetup verify refuses the decrypted volume: %v", err)
	}
	if got := cmd(t, toolPath(t, toolDebugfs), "-R", "cat /etc/hostname", vol); string(got) != "sealed-host\n" {
		t.Errorf("/etc/hostname in the decrypted file system = %q", got)
	}
}

func readMetadata(img, uuid string) (*disk.Metadata, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return disk.ReadMetadata(f, uint64(fi.Size()), uuid)
}

// TestSealFormatRefusals: an unknown format, qemu-utils or erofs-utils out
// of reach, and qemu-img failing at the very end are each refused in one
// line naming the problem, leaving no output, no store and no key file.
func TestSealFormatRefusals(t *testing.T) {
	needTools(t)
	needTool(t, toolQemuImg)
	in := makeTree(t)
	failing := filepath.Join(t.TempDir(), "qemu-img")
	must(t, os.WriteFile(failing, []byte("#!/bin/sh\necho 'qemu-img: simulated failure' >&2\nexit 1\n"), 0o755))
	cases := []struct {
		name  string
		setup func(t *testing.T, o *Options)
		want  error
		text  []string
	}{
		{"unknown format", func(t *testing.T, o *Options) { o.Format = "vmdk" }, ErrOptions, []string{`"vmdk"`, "raw or qcow2"}},
		{"qemu-img absent", func(t *testing.T, o *Options) { o.Format = FormatQCOW2; hidePath(t, toolQemuImg) },
			ErrMissingTool, []string{"qemu-img", "qemu-utils"}},
		{"erofs absent", func(t *testing.T, o *Options) { o.FS = FSErofs; hidePath(t, toolMkfsErofs) },
			ErrMissingTool, []string{"mkfs.erofs", "erofs-utils"}},
		{"qemu-img fails", func(t *testing.T, o *Options) { o.Format, o.Tools.QemuImg = FormatQCOW2, failing },
			nil, []string{"qcow2: converting to qcow2: qemu-img", "simulated failure"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			keys := t.TempDir()
			o := Options{Input: in, Output: filepath.Join(out, "root.img"), Payload: filepath.Join(out, "payload.json"),
				Store: filepath.Join(out, "store"), keyBase: keys}
			c.setup(t, &o)
			_, err := Seal(context.Background(), o)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Seal = %v, want %v", err, c.want)
			}
			t.Log(err)
			for _, s := range c.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error on more than one line: %q", err)
			}
			if n := dirNames(t, out); len(n) != 0 {
				t.Errorf("left behind: %v", n)
			}
			if n := dirNames(t, keys); len(n) != 0 {
				t.Errorf("key directory left behind: %v", n)
			}
		})
	}
}
