package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ErrBadModule reports a kernel module file that is not a relocatable ELF
// object with a usable .modinfo section.
var ErrBadModule = errors.New("bad kernel module")

// modinfo is what the builder needs from a module's .modinfo section: the
// NUL-separated key=value strings the kernel's MODULE_INFO macros emit
// (include/linux/moduleparam.h, __MODULE_INFO).
type modinfo struct {
	name     string   // name=, normalised (may be empty in old kernels)
	depends  []string // depends=, comma separated, normalised
	vermagic string   // vermagic=, first word is the kernel release
	aliases  []string // alias=, normalised, e.g. "crc32c", "crypto_crc32c"
	softPre  []string // the "pre:" names of softdep= ("pre: a b post: c"), normalised
}

// parseModinfo reads the .modinfo section of an uncompressed .ko image.
func parseModinfo(ko []byte) (modinfo, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return modinfo{}, fmt.Errorf("%w: %w", ErrBadModule, err)
	}
	defer f.Close()
	if f.Type != elf.ET_REL {
		return modinfo{}, fmt.Errorf("%w: ELF type %v, want ET_REL", ErrBadModule, f.Type)
	}
	sec := f.Section(".modinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return modinfo{}, fmt.Errorf("%w: no .modinfo section", ErrBadModule)
	}
	data, err := sec.Data()
	if err != nil {
		return modinfo{}, fmt.Errorf("%w: reading .modinfo: %w", ErrBadModule, err)
	}
	return parseModinfoStrings(data), nil
}

// parseModinfoStrings splits the section into key=value strings; unknown keys
// and strings without '=' are ignored, as modinfo(8) does.
func parseModinfoStrings(data []byte) modinfo {
	var mi modinfo
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			mi.name = normalizeName(v)
		case "vermagic":
			mi.vermagic = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.depends = append(mi.depends, normalizeName(d))
				}
			}
		case "alias":
			if v = strings.TrimSpace(v); v != "" {
				mi.aliases = append(mi.aliases, normalizeName(v))
			}
		case "softdep":
			mi.softPre = append(mi.softPre, softPre(v)...)
		}
	}
	return mi
}

// softPre returns the names after "pre:" in a softdep value, up to a
// "post:" (modprobe.d(5), "softdep"): the modules to load before this one.
func softPre(v string) []string {
	var out []string
	pre := false
	for _, f := range strings.Fields(v) {
		switch f {
		case "pre:":
			pre = true
		case "post:":
			pre = false
		default:
			if pre {
				out = append(out, normalizeName(f))
			}
		}
	}
	return out
}

// normalizeName maps a module name to the kernel's canonical spelling: '-'
// and '_' are equivalent in module names, the kernel uses '_'.
func normalizeName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// maxModuleSize bounds a decompressed module (the largest Debian module is
// well under 32 MiB), so a corrupt or hostile file cannot exhaust memory.
const maxModuleSize = 256 << 20

// moduleBase splits a module file name into its base name and its ending
// (".ko" or a compressed ".ko.xz", ".ko.zst", ".ko.gz", the formats kmod and
// u-root's kmodule accept); ok is false for files that are not modules.
func moduleBase(file string) (base, ext string, ok bool) {
	for _, e := range []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"} {
		if b, found := strings.CutSuffix(file, e); found && b != "" {
			return b, e, true
		}
	}
	return "", "", false
}

// decompressModule returns the plain .ko bytes of a module file with the
// given ending (see moduleBase).
func decompressModule(data []byte, ext string) ([]byte, error) {
	var (
		r   io.Reader
		err error
	)
	switch ext {
	case ".ko":
		return data, nil
	case ".ko.xz":
		r, err = xz.NewReader(bytes.NewReader(data))
	case ".ko.gz":
		r, err = gzip.NewReader(bytes.NewReader(data))
	case ".ko.zst":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("%w: unknown module ending %q", ErrBadModule, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadModule, ext, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadModule, ext, err)
	}
	if len(out) > maxModuleSize {
		return nil, fmt.Errorf("%w: decompressed module larger than %d bytes", ErrBadModule, maxModuleSize)
	}
	return out, nil
}
