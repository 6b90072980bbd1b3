package seal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// Errors callers branch on; returned errors wrap them with details.
var (
	ErrOptions     = errors.New("bad seal options")
	ErrInput       = errors.New("bad input")
	ErrExists      = errors.New("output already exists")
	ErrTooSmall    = errors.New("file system size too small for the tree")
	ErrMissingTool = errors.New("tool not found")
	ErrSelfCheck   = errors.New("self-check of the sealed image failed")
	ErrInterrupted = errors.New("interrupted")
)

// File system types and image formats.
const (
	FSExt4      = "ext4"
	FSErofs     = "erofs"
	FormatRaw   = "raw"
	FormatQCOW2 = "qcow2"
)

// DefaultResource is the broker resource path the guest asks for its root
// disk by default.
const DefaultResource = "default/disk/root"

// Options describe one seal. Input and Output are required, and at least one
// of Payload and Store.
type Options struct {
	// Input is the root file system: a directory, or a tar archive (plain or
	// gzip-compressed). Exactly one of Input and FSImage is set.
	Input string
	// FSImage is a file system image made elsewhere (of type FS, a positive
	// multiple of 4096 bytes), sealed as it is: its blocks are the volume's
	// first blocks, so tools that know where a file lies in it know where it
	// lies in the decrypted volume.
	FSImage string
	// UUID is the LUKS UUID to record (the guest's config pins it); ""
	// means a fresh random one.
	UUID string
	// Output is the disk image to write. It must not exist unless Force.
	Output string
	// FS is FSExt4 (the zero value "" means ext4) or FSErofs.
	FS string
	// Format is FormatRaw (zero value) or FormatQCOW2.
	Format string
	// Size is the file system size in bytes (ext4 only), rounded up to 4096;
	// 0 sizes it from the tree.
	Size int64
	// Manifest is where the manifest goes; "" means Output + ".manifest.json".
	Manifest string
	// Payload, if set, receives the broker resource (the secret payload
	// JSON) as a 0600 file; it must not exist unless Force.
	Payload string
	// Store, if set, is a key broker store directory (package store) that
	// receives the payload at Resource with Measurements allowed. An existing
	// resource is refused unless Force, which rotates its secret and allows
	// Measurements in addition to those it has.
	Store string
	// Resource is the broker resource path; "" means DefaultResource.
	Resource string
	// Measurements are the launch digests (96 hex digits each) allowed to
	// receive the key; recorded in the manifest and, with Store, the store.
	Measurements []string
	// Force replaces existing outputs and rotates an existing resource.
	Force bool
	// Progress, if set, is called at the start, during and at the end of
	// each slow step. It must not block for long.
	Progress func(Progress)
	// Tools gives tool paths; an empty field means: look the tool up in
	// PATH, then /usr/sbin and /sbin.
	Tools Tools
	// Now is the clock for elapsed times; nil means time.Now.
	Now func() time.Time

	// noChown makes tar extraction behave as if not root (tests).
	noChown bool
	// keyBase is where the private key directory is made; "" means
	// /dev/shm (tests give their own, to see that it is left empty).
	keyBase string
}

// Progress reports a slow step.
type Progress struct {
	Step     string        // "rootfs", "mkfs", "verity", "verity-check", "luks", "luks-check", "qcow2", "store"
	Done     int64         // bytes done, when known
	Total    int64         // bytes in all, 0 when unknown
	Rate     float64       // bytes per second, 0 when unknown
	ETA      time.Duration // 0 when unknown
	Elapsed  time.Duration // since the step started
	Finished bool          // the step ended successfully
}

// normalize fills defaults and refuses bad combinations; it checks no file.
func (o *Options) normalize() error {
	if o.FS == "" {
		o.FS = FSExt4
	}
	if o.Format == "" {
		o.Format = FormatRaw
	}
	if o.Resource == "" {
		o.Resource = DefaultResource
	}
	if o.Manifest == "" && o.Output != "" {
		o.Manifest = o.Output + ".manifest.json"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Absolute paths: tools run in the work directory.
	for _, p := range []*string{&o.Input, &o.FSImage, &o.Output, &o.Manifest, &o.Payload, &o.Store} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrOptions, *p, err)
			}
			*p = abs
		}
	}
	return errors.Join(o.checkValues(), o.checkMeasurements())
}

func (o *Options) checkValues() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrOptions}, a...)...)
	}
	switch {
	case (o.Input == "") == (o.FSImage == ""):
		return bad("give exactly one input: a root file system (directory or tar archive) or a file system image")
	case o.UUID != "" && uuid.Validate(o.UUID) != nil:
		return bad("LUKS UUID %q is not a UUID", o.UUID)
	case o.Output == "":
		return bad("no output image")
	case o.FS != FSExt4 && o.FS != FSErofs:
		return bad("file system %q: want ext4 or erofs", o.FS)
	case o.Format != FormatRaw && o.Format != FormatQCOW2:
		return bad("image format %q: want raw or qcow2", o.Format)
	case o.Size < 0 || o.Size > 0 && o.FS != FSExt4:
		return bad("size %d: give a positive size, and only for ext4 (erofs is as large as its content)", o.Size)
	case o.Payload == "" && o.Store == "":
		return bad("nowhere to put the broker resource: give a payload file or a broker store")
	}
	if err := store.ValidatePath(o.Resource); err != nil {
		return bad("resource %q: %v", o.Resource, err)
	}
	return o.checkDistinct()
}

// checkDistinct refuses outputs that are the same file, and an output or
// the store inside the input tree (mkfs would copy the work directory, or
// the store's secrets, into the image).
func (o *Options) checkDistinct() error {
	seen := map[string]string{}
	in := ""
	if o.Input != "" {
		in = realPath(o.Input)
	} else {
		seen[realPath(o.FSImage)] = "file system image"
	}
	for _, p := range [][2]string{{"image", o.Output}, {"manifest", o.Manifest}, {"payload", o.Payload}, {"store", o.Store}} {
		if p[1] == "" {
			continue
		}
		abs := realPath(p[1])
		if other, ok := seen[abs]; ok {
			return fmt.Errorf("%w: %s and %s are the same file %s", ErrOptions, other, p[0], p[1])
		}
		seen[abs] = p[0]
		if in != "" && (abs == in || strings.HasPrefix(abs, in+string(filepath.Separator))) {
			return fmt.Errorf("%w: %s %s is inside the input %s", ErrOptions, p[0], p[1], o.Input)
		}
	}
	return nil
}

// realPath is p made absolute with the symlinks of its directory resolved
// (p itself may not exist yet).
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// checkMeasurements normalizes the measurements to lower case and drops
// repeats (a digest given and also computed is allowed once).
func (o *Options) checkMeasurements() error {
	ms := make([]string, 0, len(o.Measurements))
	for i, m := range o.Measurements {
		n, err := store.NormalizeMeasurement(m)
		if err != nil {
			return fmt.Errorf("%w: measurement %d: %v", ErrOptions, i+1, err)
		}
		if !slices.Contains(ms, n) {
			ms = append(ms, n)
		}
	}
	o.Measurements = ms
	return nil
}

// checkOutputs refuses existing outputs unless Force, and an existing
// resource in an existing store unless Force.
func (o *Options) checkOutputs() error {
	for _, p := range []string{o.Output, o.Manifest, o.Payload} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil && !o.Force {
			return fmt.Errorf("%w: %s (use --force to replace it)", ErrExists, p)
		}
	}
	if o.Store == "" {
		return nil
	}
	if _, err := os.Stat(o.Store); errors.Is(err, os.ErrNotExist) {
		return nil // created at the end
	}
	s, err := store.Open(o.Store)
	if err != nil {
		return fmt.Errorf("opening broker store: %w", err)
	}
	defer s.Close()
	x, err := s.Index()
	if err != nil {
		return fmt.Errorf("reading broker store: %w", err)
	}
	if x.Has(o.Resource) && !o.Force {
		return fmt.Errorf("%w: resource %s in store %s (use --force to rotate it)", ErrExists, o.Resource, o.Store)
	}
	return nil
}
