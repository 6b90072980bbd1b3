package launch

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixtureDir holds the peer vectors beside the checkout (see
// shared/peer-vectors/README.md): the last 4 KiB of two edk2-stable202405
// OVMF builds from virtee/sev-snp-measure tests/fixtures.
const fixtureDir = "../../../shared/peer-vectors/sev-snp-measure"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("reading peer vector: %v", err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	amdSev  = "ovmf_AmdSev_suffix.bin"
	ovmfX64 = "ovmf_OvmfX64_suffix.bin"
	// seedAmdSev is sev-snp-measure's published snp:ovmf-hash of amdSev.
	seedAmdSev = "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"
	// cmdline7 is the non-empty command line of the upstream tests.
	cmdline7 = "console=ttyS0 loglevel=7"
)

// goldenCase is one published launch digest. Inputs and expected digests
// are copied from virtee/sev-snp-measure tests/test_guest.py as of v0.0.13
// (after PR #56 "Add support for GCE measurement derivation" and PR #60
// "Update the EC2 VMSA"), and from cvminit REFERENCE.md section 3, which
// lists a subset of them. "/dev/null" kernel and initrd there are the empty
// files here; vCPU type EPYC-v4 except for GCE, where the tests pass sig 0.
type goldenCase struct {
	name     string
	ovmf     string
	vmm      VMM
	vcpus    int
	sig      uint32
	features uint64
	kernel   bool   // empty kernel and initrd
	cmdline  string // with kernel
	seed     string // snp_ovmf_hash_str
	want     string
}

func goldenCases() []goldenCase {
	const v4 = 0x800f12
	return []goldenCase{
		// REFERENCE.md §3 rows (also test_snp_ovmf_hash_gen_default / _feature_snp_only,
		// test_snp_default, test_snp_with_ovmfx64_without_default, test_snp_ec2_default).
		{"ref/amdsev/qemu/0x21", amdSev, VMMQEMU, 1, v4, 0x21, true, "", "",
			"329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"},
		{"ref/amdsev/qemu/0x1", amdSev, VMMQEMU, 1, v4, 0x1, true, "", "",
			"ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"},
		{"ref/amdsev/qemu/cmdline/0x21", amdSev, VMMQEMU, 1, v4, 0x21, true, cmdline7, "",
			"803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
		{"ref/ovmfx64/qemu/nokernel/0x21", ovmfX64, VMMQEMU, 1, v4, 0x21, false, "", "",
			"28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"},
		{"ref/amdsev/ec2/0x21", amdSev, VMMEC2, 1, v4, 0x21, true, "", "",
			"0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb"},
		// test_snp_ovmf_hash_gen_default / _feature_snp_only (seeded).
		{"seed/amdsev/qemu/0x21", amdSev, VMMQEMU, 1, v4, 0x21, true, "", seedAmdSev,
			"329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"},
		{"seed/amdsev/qemu/0x1", amdSev, VMMQEMU, 1, v4, 0x1, true, "", seedAmdSev,
			"ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5"},
		// test_snp_ovmf_hash_full_default / _feature_snp_only (seeded, cmdline).
		{"seed/amdsev/qemu/cmdline/0x21", amdSev, VMMQEMU, 1, v4, 0x21, true, cmdline7, seedAmdSev,
			"803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"},
		{"seed/amdsev/qemu/cmdline/0x1", amdSev, VMMQEMU, 1, v4, 0x1, true, cmdline7, seedAmdSev,
			"6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa"},
		// test_snp_ec2_feature_snp_only.
		{"amdsev/ec2/0x1", amdSev, VMMEC2, 1, v4, 0x1, true, "", "",
			"0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056"},
		// test_snp_gce_default / test_snp_gce_with_multiple_vcpus_default.
		{"amdsev/gce/0x1", amdSev, VMMGCE, 1, 0, 0x1, true, "", "",
			"5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e"},
		{"amdsev/gce/4vcpu/0x1", amdSev, VMMGCE, 4, 0, 0x1, true, "", "",
			"5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d"},
		// test_snp_guest_feature_snp_only.
		{"amdsev/qemu/cmdline/0x1", amdSev, VMMQEMU, 1, v4, 0x1, true, cmdline7, "",
			"6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa"},
		// test_snp_without_kernel_default / _feature_snp_only.
		{"amdsev/qemu/nokernel/0x21", amdSev, VMMQEMU, 1, v4, 0x21, false, "", "",
			"e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"},
		{"amdsev/qemu/nokernel/0x1", amdSev, VMMQEMU, 1, v4, 0x1, false, "", "",
			"19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d"},
		// test_snp_with_multiple_vcpus_default / _feature_snp_only.
		{"amdsev/qemu/4vcpu/0x21", amdSev, VMMQEMU, 4, v4, 0x21, true, "", "",
			"4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"},
		{"amdsev/qemu/4vcpu/0x1", amdSev, VMMQEMU, 4, v4, 0x1, true, "", "",
			"5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5"},
		// test_snp_with_ovmfx64_without_kernel_feature_snp_only.
		{"ovmfx64/qemu/nokernel/0x1", ovmfX64, VMMQEMU, 1, v4, 0x1, false, "", "",
			"da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005"},
	}
}

func (c goldenCase) options(t testing.TB) Options {
	o := Options{OVMF: fixture(t, c.ovmf), VCPUs: c.vcpus, VCPUSig: c.sig, VMM: c.vmm, GuestFeatures: c.features}
	if c.kernel {
		o.Kernel = &Kernel{Kernel: []byte{}, Initrd: []byte{}, Cmdline: c.cmdline}
	}
	if c.seed != "" {
		o.OVMFHash = unhex(t, c.seed)
	}
	return o
}

func TestDigestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := Digest(c.options(t))
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if h := hex.EncodeToString(got[:]); h != c.want {
				t.Errorf("digest\n got %s\nwant %s", h, c.want)
			}
		})
	}
}

// TestOVMFDigestGolden: test_snp_ovmf_hash_full_default asserts the seed.
func TestOVMFDigestGolden(t *testing.T) {
	got, err := OVMFDigest(fixture(t, amdSev))
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got[:]); h != seedAmdSev {
		t.Errorf("ovmf digest\n got %s\nwant %s", h, seedAmdSev)
	}
}

// TestKernelWithoutHashesSection: test_snp_with_ovmfx64_and_kernel_should_fail.
func TestKernelWithoutHashesSection(t *testing.T) {
	o := Options{OVMF: fixture(t, ovmfX64), VCPUs: 1, VCPUSig: 0x800f12, VMM: VMMQEMU, GuestFeatures: 0x21,
		Kernel: &Kernel{}}
	_, err := Digest(o)
	if !errors.Is(err, ErrNoKernelHashes) {
		t.Fatalf("err = %v, want ErrNoKernelHashes", err)
	}
}

// BenchmarkDigest4MiB measures a 4 MiB image (the size of OVMF.amdsev.fd):
// the AmdSev tail behind 4 MiB - 4 KiB of zeros, with a kernel and 4 vCPUs.
// Baseline, timed in the same iterations (so that a busy machine slows
// both): SHA-384 of every 4 KiB page of the image, the hashing a launch
// digest of it cannot avoid ("ratio" is ours over it).
func BenchmarkDigest4MiB(b *testing.B) {
	tail := fixture(b, amdSev)
	img := make([]byte, 4<<20)
	copy(img[len(img)-len(tail):], tail)
	o := Options{OVMF: img, VCPUs: 4, VCPUSig: 0x800f12, VMM: VMMQEMU, GuestFeatures: 0x21,
		Kernel: &Kernel{Kernel: make([]byte, 1<<20), Cmdline: "console=ttyS0"}}
	b.SetBytes(int64(len(img)))
	var ours, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := Digest(o); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		t1 := time.Now()
		for p := 0; p < len(img); p += 4096 {
			sha512.Sum384(img[p : p+4096])
		}
		ours, base = ours+t1.Sub(t0), base+time.Since(t1)
		b.StartTimer()
	}
	b.ReportMetric(float64(base.Microseconds())/1000/float64(b.N), "sha384-pages-ms")
	b.ReportMetric(float64(ours)/float64(base), "ratio")
}
