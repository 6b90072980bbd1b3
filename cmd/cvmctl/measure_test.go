package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Peer vectors beside the checkout: OVMF tails from virtee/sev-snp-measure.
const vectors = "../../../shared/peer-vectors/sev-snp-measure/"

const (
	amdSev  = vectors + "ovmf_AmdSev_suffix.bin"
	ovmfX64 = vectors + "ovmf_OvmfX64_suffix.bin"
	// Published digests: REFERENCE.md §3 and virtee/sev-snp-measure
	// tests/test_guest.py (v0.0.13), empty kernel and initrd, EPYC-v4.
	seedAmdSev    = "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
	digestDefault = "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"
	digestSNPOnly = "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"
	digestCmdline = "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"
	digestEC2     = "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"
	digestGCE4    = "5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d"
	digestX64     = "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"
	digestNoKern  = "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"
)

func emptyFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func measure(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runMeasure(args, &o, &e)
	return code, o.String(), e.String()
}

func TestMeasureGolden(t *testing.T) {
	empty := emptyFile(t)
	kern := []string{"--kernel", empty, "--initrd", empty, "--append", ""}
	b64, _ := hex.DecodeString(digestDefault)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"default", append([]string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v4"}, kern...), digestDefault},
		{"long form", append([]string{"--mode", "snp", "--ovmf", amdSev, "--vcpus", "1", "--vcpu-type", "EPYC-v4",
			"--vmm-type", "qemu", "--guest-features", "0x21"}, kern...), digestDefault},
		{"snp only", append([]string{"--ovmf", amdSev, "--vcpu-sig", "0x800f12", "--guest-features", "0x1"}, kern...),
			digestSNPOnly},
		{"family", append([]string{"--ovmf", amdSev, "--vcpu-family", "23", "--vcpu-model", "1",
			"--vcpu-stepping", "2"}, kern...), digestDefault},
		{"cmdline", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v4", "--kernel", empty, "--initrd", empty,
			"--append", "console=ttyS0 loglevel=7"}, digestCmdline},
		{"cmdline seeded", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v4", "--kernel", empty,
			"--append", "console=ttyS0 loglevel=7", "--snp-ovmf-hash", seedAmdSev}, digestCmdline},
		{"ec2", append([]string{"--ovmf", amdSev, "--vmm-type", "ec2", "--vcpu-type", "EPYC-v4"}, kern...), digestEC2},
		{"gce 4 vcpus", append([]string{"--ovmf", amdSev, "--vmm-type", "gce", "--vcpus", "4",
			"--guest-features", "0x1"}, kern...), digestGCE4},
		{"no kernel", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v4"}, digestNoKern},
		{"ovmfx64", []string{"-ovmf", ovmfX64, "-vcpu-type", "EPYC-v4"}, digestX64},
		{"ovmf-hash mode", []string{"--mode", "snp:ovmf-hash", "--ovmf", amdSev}, seedAmdSev},
		{"base64", append([]string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v4", "--output-format", "base64"}, kern...),
			base64.StdEncoding.EncodeToString(b64)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := measure(c.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if out != c.want+"\n" {
				t.Errorf("stdout %q, want %q", out, c.want)
			}
		})
	}
}

func TestMeasureErrors(t *testing.T) {
	empty := emptyFile(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string // substring of the one-line error
	}{
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"positional", []string{"--ovmf", amdSev, "extra"}, 2, "extra"},
		{"no ovmf", []string{"--vcpu-type", "EPYC-v4"}, 2, "--ovmf"},
		{"mode", []string{"--mode", "sev", "--ovmf", amdSev}, 2, "--mode"},
		{"format", []string{"--ovmf", amdSev, "--output-format", "raw"}, 2, "--output-format"},
		{"vcpu type", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC-v9"}, 2, "EPYC-v9"},
		{"no vcpu sig on qemu", []string{"--ovmf", amdSev}, 2, "--vcpu-type"},
		{"two sigs", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--vcpu-sig", "1"}, 2, "only one"},
		{"model alone", []string{"--ovmf", amdSev, "--vcpu-model", "1"}, 2, "--vcpu-family"},
		{"bad sig", []string{"--ovmf", amdSev, "--vcpu-sig", "0x1ffffffff"}, 2, "--vcpu-sig"},
		{"vcpus", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--vcpus", "0"}, 2, "--vcpus"},
		{"vcpus not a number", []string{"--vcpus", "two"}, 2, "vcpus"},
		{"vmm", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--vmm-type", "xen"}, 2, "--vmm-type"},
		{"features", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--guest-features", "lots"}, 2, "--guest-features"},
		{"seed", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--snp-ovmf-hash", "abcd"}, 2, "--snp-ovmf-hash"},
		{"initrd alone", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--initrd", empty}, 2, "--kernel"},
		{"missing ovmf file", []string{"--ovmf", "/nonexistent/ovmf.fd", "--vcpu-type", "EPYC"}, 1, "nonexistent"},
		{"missing kernel file", []string{"--ovmf", amdSev, "--vcpu-type", "EPYC", "--kernel", "/nonexistent/k"}, 1,
			"nonexistent"},
		{"not firmware", []string{"--ovmf", empty, "--vcpu-type", "EPYC"}, 1, "bad size"},
		{"not firmware hash mode", []string{"--mode", "snp:ovmf-hash", "--ovmf", empty}, 1, "bad size"},
		{"kernel without hashes section", []string{"--ovmf", ovmfX64, "--vcpu-type", "EPYC", "--kernel", empty}, 1,
			"SNP_KERNEL_HASHES"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := measure(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "cvmctl measure: ") || strings.Count(errOut, "\n") != 1 ||
				!strings.Contains(errOut, c.msg) {
				t.Errorf("stderr %q: want one line 'cvmctl measure: ...' mentioning %q", errOut, c.msg)
			}
		})
	}
}

func TestMeasureHelp(t *testing.T) {
	code, out, errOut := measure("-h")
	if code != 0 || out != "" || !strings.Contains(errOut, "-vcpu-type") || !strings.Contains(errOut, "EPYC-Genoa") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
