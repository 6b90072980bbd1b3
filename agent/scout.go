package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/cvminit/cvminit/agent/disk"
)

// rootRead is a root device's size and checked LUKS2 metadata, or why they
// could not be had.
type rootRead struct {
	name string // kernel name, e.g. "vda"
	size uint64
	meta *disk.Metadata
	err  error
}

// readRoot reads the LUKS2 metadata region of the block device name once
// and checks it against the configured UUID (disk.ReadMetadata: the header
// guard).
func readRoot(s *State, name string) rootRead {
	r := rootRead{name: name}
	uuid := s.Config.Disk.LUKSUUID
	if uuid == "" {
		r.err = fmt.Errorf("%w: no LUKS UUID configured", ErrHeaderRejected)
		return r
	}
	if r.size, r.err = s.sys.Blocks.Size(name); r.err != nil {
		r.err = fmt.Errorf("size of /dev/%s: %w", name, r.err)
		return r
	}
	if r.meta, r.err = disk.ReadMetadata(blockReader{s.sys.Blocks, name}, r.size, uuid); r.err != nil {
		r.err = fmt.Errorf("/dev/%s: %w", name, r.err)
	}
	return r
}

// scoutResult is what the scout found: a root device and its metadata
// (read.err may say why the metadata is unusable), or the search's error.
type scoutResult struct {
	read    rootRead
	findErr error
}

// startScout looks for the root disk in the background while the key is
// fetched: once the disk's modules are loaded it searches once (findRoot)
// and reads and checks the metadata of the device it found (readRoot). It
// only reports; the disk and unlock steps take what it found (await)
// and search and read themselves where it found nothing. The host can
// change the disk after the scout read it, as after any read: the unlock
// step uses the checked copy in memory either way.
func startScout(ctx context.Context, s *State) {
	s.scout = background(ctx, func(bg context.Context) (r scoutResult) {
		if r.findErr = s.awaitModules(bg, stageDisk); r.findErr == nil {
			var name string
			if name, r.findErr = findRoot(s.sys.Blocks, s.Config.Disk.LUKSUUID); r.findErr == nil {
				r.read = readRoot(s, name)
			}
		}
		return r
	})
}

// rootMetadata is the root device's size and checked metadata: the copy
// the scout read for it, else read now.
func (s *State) rootMetadata() rootRead {
	name := strings.TrimPrefix(s.RootDevice, "/dev/")
	if r := s.rootRead; r != nil && r.name == name {
		return *r
	}
	return readRoot(s, name)
}
