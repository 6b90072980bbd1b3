package seal

import (
	"context"
	"encoding/json"

	"github.com/cvminit/cvminit/agent/disk"
)

// ManifestVersion is the version of the manifest format (and of what
// `cvmctl seal` produces); it changes when either changes incompatibly.
const ManifestVersion = 1

// Manifest describes a sealed image; it holds no secret. Its JSON form is
// written next to the image.
type Manifest struct {
	Version int               `json:"version"` // ManifestVersion
	Image   ImageInfo         `json:"image"`
	Input   InputInfo         `json:"input"`
	FS      FSInfo            `json:"fs"`
	Verity  VerityInfo        `json:"verity"`
	LUKS    LUKSInfo          `json:"luks"`
	Sizes   Sizes             `json:"sizes"`
	Broker  BrokerInfo        `json:"broker"`
	Tools   map[string]string `json:"tools"` // tool name -> first line of its version output
}

// ImageInfo names the image file.
type ImageInfo struct {
	File   string `json:"file"`   // base name of the output
	Format string `json:"format"` // raw or qcow2
}

// FSInfo describes the file system inside the volume.
type FSInfo struct {
	Type string `json:"type"` // ext4 or erofs
}

// VerityInfo is the guest's verity description (what the payload carries)
// plus the hash format version.
type VerityInfo struct {
	disk.Verity
	HashType int `json:"hash_type"` // dm-verity format version, 1
}

// LUKSInfo is the LUKS2 identity and parameters.
type LUKSInfo struct {
	UUID         string `json:"uuid"`
	HeaderSHA256 string `json:"header_sha256"` // disk.Metadata.Identity()
	Cipher       string `json:"cipher"`
	KeyBits      int    `json:"key_bits"`
	SectorSize   uint64 `json:"sector_size"`
	PBKDF        string `json:"pbkdf"`
	Iterations   int    `json:"iterations"`
	HeaderBytes  uint64 `json:"header_bytes"` // one header copy (hdr_size)
	DataOffset   uint64 `json:"data_offset"`  // where the encrypted volume starts
}

// Sizes are in bytes. Volume = FS + HashTree; RawImage = LUKS data offset +
// Volume; File is the output file (differs from RawImage for qcow2).
type Sizes struct {
	FS       int64 `json:"fs"`
	HashTree int64 `json:"hash_tree"`
	Volume   int64 `json:"volume"`
	RawImage int64 `json:"raw_image"`
	File     int64 `json:"file"`
}

// BrokerInfo says where the key went and who may receive it (no secret).
type BrokerInfo struct {
	Resource     string   `json:"resource"`
	Measurements []string `json:"measurements"` // allowed launch digests (hex); may be empty
	Stored       bool     `json:"stored"`       // written into a broker store
	PayloadFile  bool     `json:"payload_file"` // written to a payload file
}

// marshal is the manifest's JSON, indented, with a final newline.
func (m *Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

// toolVersions records the versions of the tools o used; banner is the
// first line mkfs.erofs printed (erofs-utils 1.5 has no version option).
// A file system image given as it is names no mkfs.
func toolVersions(ctx context.Context, o *Options, banner string) map[string]string {
	v := map[string]string{
		"cryptsetup":  version(ctx, o.Tools.Cryptsetup, "--version"),
		"veritysetup": version(ctx, o.Tools.Veritysetup, "--version"),
	}
	switch {
	case o.FSImage != "":
	case o.FS == FSExt4:
		v["mkfs.ext4"] = version(ctx, o.Tools.MkfsExt4, "-V")
	case banner != "":
		v["mkfs.erofs"] = banner
	default:
		v["mkfs.erofs"] = version(ctx, o.Tools.MkfsErofs, "--version")
	}
	if o.Format == FormatQCOW2 {
		v["qemu-img"] = version(ctx, o.Tools.QemuImg, "--version")
	}
	return v
}
