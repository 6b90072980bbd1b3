package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/cvminit/cvminit/initramfs"
	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

const (
	pcrUUID   = "0b5c3b1e-8a63-4c8e-9d2a-6c0f3e3f9a11" // testYAML's disk.luks_uuid
	pcrHeader = "5d0ab2b61ec1c4b1b4ae7a4b0c5f2e7b0d0a8f7f0c4d3e2b1a09f8e7d6c5b4a3"
	pcrVerity = "95af95953b7658aa93b17726cc6ba443c4738a29e6328537316311ce30a2783e"
	pcrKey    = "CANARY-disk-key-\x00\x01never-printed"
)

// pcrImage builds a test initramfs from yaml and returns its path and the
// /init and config bytes as the test's own cpio reader (unpack) sees them.
func pcrImage(t *testing.T, yaml []byte) (img string, init, cfg []byte) {
	t.Helper()
	args := inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0))
	files := unpack(t, build(t, args))
	if !bytes.Equal(files["/init"], initramfstest.Executable("")) {
		t.Fatal("/init is not the --init file")
	}
	return args[len(args)-1], files["/init"], files["/etc/cvminit/config.json"]
}

// handPCRs replays by hand: each PCR starts at 32 zero bytes and becomes
// SHA-256(old || SHA-256(measured bytes)) for each of its events.
func handPCRs(init, cfg []byte, cmdline, verity string) map[string]string {
	ext := func(pcr [32]byte, data string) [32]byte {
		d := sha256.Sum256([]byte(data))
		return sha256.Sum256(append(pcr[:], d[:]...))
	}
	var p11, p12, p15 [32]byte
	p11 = ext(ext(ext(ext(p11, string(init)), string(cfg)), "enter-initrd"), "leave-initrd")
	p12 = ext(p12, cmdline)
	p15 = ext(p15, "luks_uuid="+pcrUUID+" header_sha256="+pcrHeader)
	if verity != "" {
		p15 = ext(p15, "verity_root_hash="+verity)
	}
	return map[string]string{"pcr11": hex.EncodeToString(p11[:]), "pcr12": hex.EncodeToString(p12[:]),
		"pcr15": hex.EncodeToString(p15[:])}
}

func pcrLines(p map[string]string) string {
	return "pcr11=" + p["pcr11"] + "\npcr12=" + p["pcr12"] + "\npcr15=" + p["pcr15"] + "\n"
}

// writePayload writes a version 2 payload carrying pcrKey.
func writePayload(t *testing.T) string {
	t.Helper()
	doc := fmt.Sprintf(`{"version":2,"key":"%s","luks_uuid":"%s","header_sha256":"%s","verity":{"root_hash":"%s",`+
		`"salt":"00","algorithm":"sha256","data_block_size":4096,"hash_block_size":4096,"data_blocks":8,"hash_offset":32768}}`,
		base64.StdEncoding.EncodeToString([]byte(pcrKey)), pcrUUID, pcrHeader, pcrVerity)
	p := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMeasurePCRs(t *testing.T) {
	img, init, cfg := pcrImage(t, testYAML(testCAPEM(t), "emulated"))
	const cmdline = "console=ttyS0 quiet cvminit.log=debug"
	want := pcrLines(handPCRs(init, cfg, cmdline, pcrVerity))
	flags := []string{"--luks-uuid", pcrUUID, "--header-sha256", pcrHeader, "--verity-root-hash", pcrVerity}
	for name, args := range map[string][]string{
		"flags":   append([]string{"--pcrs", "--initrd", img, "--append", cmdline}, flags...),
		"payload": {"--pcrs", "--initrd", img, "--append", cmdline, "--payload", writePayload(t)},
		"upper-case hex": {"--pcrs", "--initrd", img, "--append", cmdline, "--luks-uuid", strings.ToUpper(pcrUUID),
			"--header-sha256", strings.ToUpper(pcrHeader), "--verity-root-hash", strings.ToUpper(pcrVerity)},
		"/proc/cmdline form": append([]string{"--pcrs", "--initrd", img, "--append", " " + cmdline + "\n"}, flags...),
		"uncompressed image": append([]string{"--pcrs", "--initrd", gunzipped(t, img), "--append", cmdline}, flags...),
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := measure(args...)
			if code != 0 || out != want {
				t.Fatalf("exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", code, errOut, out, want)
			}
			for _, form := range []string{pcrKey, base64.StdEncoding.EncodeToString([]byte(pcrKey)), hex.EncodeToString([]byte(pcrKey))} {
				if strings.Contains(out+errOut, form) {
					t.Error("the key was printed")
				}
			}
		})
	}
	if code, out, _ := measure("--pcrs", "--initrd", img, "--append", cmdline+" x", "--payload", writePayload(t)); code != 0 ||
		out == want {
		t.Errorf("another command line: exit %d, same PCRs: %v", code, out == want)
	}
}

// TestMeasurePCRsNoVerity: under disk.integrity none without a root hash
// PCR 15 holds the disk identity alone.
func TestMeasurePCRsNoVerity(t *testing.T) {
	yaml := append(testYAML(testCAPEM(t), "emulated"), "tpm: {mode: required}\n"...)
	yaml = bytes.Replace(yaml, []byte("disk: {luks_uuid: "), []byte("disk: {integrity: none, luks_uuid: "), 1)
	img, init, cfg := pcrImage(t, yaml)
	code, out, errOut := measure("--pcrs", "--initrd", img, "--append", "", "--luks-uuid", pcrUUID,
		"--header-sha256", pcrHeader)
	if want := pcrLines(handPCRs(init, cfg, "", "")); code != 0 || out != want {
		t.Fatalf("exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}
}

func TestMeasurePCRsJSON(t *testing.T) {
	img, init, cfg := pcrImage(t, testYAML(testCAPEM(t), "emulated"))
	code, out, errOut := measure("--pcrs", "--json", "--initrd", img, "--append", "console=ttyS0",
		"--payload", writePayload(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		PCR11, PCR12, PCR15 string
		Events              []struct {
			PCR    int
			Name   string
			SHA256 string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := handPCRs(init, cfg, "console=ttyS0", pcrVerity)
	if got.PCR11 != want["pcr11"] || got.PCR12 != want["pcr12"] || got.PCR15 != want["pcr15"] {
		t.Errorf("PCRs %+v, want %v", got, want)
	}
	sum := func(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }
	wantEvents := []string{
		"11 cvminit-binary " + sum(string(init)), "11 cvminit-config " + sum(string(cfg)),
		"11 enter-initrd " + sum("enter-initrd"), "12 kernel-cmdline " + sum("console=ttyS0"),
		"15 luks-identity " + sum("luks_uuid="+pcrUUID+" header_sha256="+pcrHeader),
		"15 verity-root-hash " + sum("verity_root_hash="+pcrVerity), "11 leave-initrd " + sum("leave-initrd"),
	}
	var events []string
	for _, e := range got.Events {
		events = append(events, fmt.Sprintf("%d %s %s", e.PCR, e.Name, e.SHA256))
	}
	if strings.Join(events, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(wantEvents, "\n"))
	}
}

func TestMeasurePCRsRefuses(t *testing.T) {
	ca := testCAPEM(t)
	img, _, _ := pcrImage(t, testYAML(ca, "emulated"))
	off, _, _ := pcrImage(t, append(testYAML(ca, "emulated"), "tpm: {mode: off}\n"...))
	id := []string{"--luks-uuid", pcrUUID, "--header-sha256", pcrHeader, "--verity-root-hash", pcrVerity}
	base := []string{"--pcrs", "--initrd", img, "--append", "x"}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no initrd", append([]string{"--pcrs", "--append", "x"}, id...), 2, "needs --initrd"},
		{"no append", append([]string{"--pcrs", "--initrd", img}, id...), 2, "needs --append"},
		{"launch flag", append(append(base, "--ovmf", img), id...), 2, "--ovmf does not apply to --pcrs"},
		{"no disk", base, 2, "needs --payload FILE, or --luks-uuid and --header-sha256"},
		{"both", append(append(base, "--payload", "p"), id...), 2, "not both"},
		{"bad header", append(base, "--luks-uuid", pcrUUID, "--header-sha256", "abc"), 2, "want 64 hex digits"},
		{"pcr flag without --pcrs", []string{"--ovmf", amdSev, "--json"}, 2, "--json needs --pcrs"},
		{"no verity hash", append(base, "--luks-uuid", pcrUUID, "--header-sha256", pcrHeader), 1,
			`disk.integrity is "verity"`},
		{"other disk", append(base, "--luks-uuid", "11111111-2222-3333-4444-555555555555", "--header-sha256", pcrHeader,
			"--verity-root-hash", pcrVerity), 1, "is not the image's disk.luks_uuid"},
		{"tpm off", append([]string{"--pcrs", "--initrd", off, "--append", "x"}, id...), 1, "tpm.mode off"},
		{"missing image", append([]string{"--pcrs", "--initrd", img + ".nope", "--append", "x"}, id...), 1, "no such file"},
		{"image without config", append([]string{"--pcrs", "--initrd", onlyInit(t), "--append", "x"}, id...), 1,
			"/etc/cvminit/config.json: not in the image"},
		{"bad payload", append(base, "--payload", img), 1, "payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := measure(c.args...)
			if code != c.code || out != "" || !strings.Contains(errOut, c.msg) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line with %q", code, out, errOut, c.code, c.msg)
			}
		})
	}
}

// gunzipped writes the uncompressed cpio archive of the image at p.
func gunzipped(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := initramfs.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := os.WriteFile(out, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// onlyInit writes an uncompressed cpio archive holding /init alone.
func onlyInit(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	if err := cpio.WriteRecords(w, []cpio.Record{cpio.StaticFile("init", "#!", 0o755)}); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "init-only.cpio")
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
