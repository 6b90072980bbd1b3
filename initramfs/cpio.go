package initramfs

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// baseDirs are created in every image: mount points for the pseudo file
// systems and the new root, and the config's directory. /tmp is sticky and
// world-writable as on any Linux system.
func baseDirs() map[string]uint64 {
	return map[string]uint64{
		"dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755,
		"newroot": 0o755, "etc": 0o755, "etc/cvminit": 0o755, "tmp": 0o1777,
	}
}

// baseDevices are the device nodes the kernel needs before devtmpfs is
// mounted: it opens /dev/console for PID 1's stdio before running /init.
// Numbers from the kernel's Documentation/admin-guide/devices.txt.
func baseDevices() []cpio.Record {
	return []cpio.Record{
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
	}
}

// WriteCPIO writes the uncompressed newc archive for spec to w.
func WriteCPIO(spec Spec, w io.Writer) error {
	recs, err := Records(spec)
	if err != nil {
		return err
	}
	rw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecords(rw, recs); err != nil {
		return fmt.Errorf("writing cpio: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("writing cpio trailer: %w", err)
	}
	return nil
}

// Records returns the archive's records, without the trailer, in the order
// they are written: sorted by path, which also puts every directory before
// its contents.
func Records(spec Spec) ([]cpio.Record, error) {
	if len(spec.Init) == 0 {
		return nil, fmt.Errorf("%w: no init binary", ErrBadSpec)
	}
	if len(spec.Config) == 0 {
		return nil, fmt.Errorf("%w: no config", ErrBadSpec)
	}
	l := newLayout()
	files := append([]File{
		{Path: InitPath, Data: spec.Init, Mode: 0o755},
		{Path: ConfigPath, Data: spec.Config, Mode: 0o644},
	}, spec.Modules...)
	for _, f := range append(files, spec.Extra...) {
		if err := l.addFile(f); err != nil {
			return nil, err
		}
	}
	return l.records(), nil
}

// layout collects records by normalised path (no leading slash).
type layout struct {
	recs map[string]cpio.Record
}

func newLayout() *layout {
	l := &layout{recs: map[string]cpio.Record{}}
	for name, mode := range baseDirs() {
		l.recs[name] = cpio.Directory(name, mode)
	}
	for _, r := range baseDevices() {
		l.recs[r.Name] = r
	}
	return l
}

func (l *layout) addFile(f File) error {
	name, err := imagePath(f.Path)
	if err != nil {
		return err
	}
	if _, dup := l.recs[name]; dup {
		return fmt.Errorf("%w: %s added twice", ErrBadSpec, f.Path)
	}
	if f.Mode&^fs.ModePerm != 0 {
		return fmt.Errorf("%w: %s: mode %v has more than permission bits", ErrBadSpec, f.Path, f.Mode)
	}
	mode := uint64(f.Mode)
	if mode == 0 {
		mode = 0o644
	}
	l.recs[name] = cpio.StaticRecord(f.Data, cpio.Info{Name: name, Mode: cpio.S_IFREG | mode})
	return l.addParents(name)
}

// addParents creates missing parent directories of name with mode 0755.
func (l *layout) addParents(name string) error {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		r, ok := l.recs[d]
		if !ok {
			l.recs[d] = cpio.Directory(d, 0o755)
			continue
		}
		if r.Mode&cpio.S_IFMT != cpio.S_IFDIR {
			return fmt.Errorf("%w: /%s is a file and a directory", ErrBadSpec, d)
		}
	}
	return nil
}

// records sorts the records and makes them reproducible: inode numbers are
// positions, owners root, times zero, one link each.
func (l *layout) records() []cpio.Record {
	names := make([]string, 0, len(l.recs))
	for n := range l.recs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]cpio.Record, len(names))
	for i, n := range names {
		r := cpio.MakeReproducible(l.recs[n])
		r.Ino = uint64(i) + 1
		r.NLink = 1
		out[i] = r
	}
	return out
}

// imagePath checks that p is an absolute, clean path below / and returns it
// without the leading slash, as cpio records name files.
func imagePath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
		return "", fmt.Errorf("%w: path %q is not absolute and clean", ErrBadSpec, p)
	}
	if strings.ContainsRune(p, 0) || p == "/"+cpio.Trailer {
		return "", fmt.Errorf("%w: path %q has a reserved name", ErrBadSpec, p)
	}
	return p[1:], nil
}
