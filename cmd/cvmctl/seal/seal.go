package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/secret"
)

// Result is what Seal made.
type Result struct {
	Image    string        // the image (Options.Output)
	Manifest string        // the manifest's path
	Payload  string        // the payload file, "" if none
	Store    string        // the broker store, "" if none
	Rotated  bool          // the store had the resource: its secret was rotated
	Info     Manifest      // what the manifest says
	Elapsed  time.Duration // the whole seal
}

// sealer carries one seal's state from step to step.
type sealer struct {
	o      *Options
	st     *stage
	img    string // the image being built, in the work directory
	tree   *tree
	fs     int64
	verity *disk.Verity
	hashes int64
	uuid   string
	meta   *disk.Metadata
	res    Result
}

// Seal builds the sealed image, its manifest and its broker resource as o
// says, checks them as the guest will, and moves them into place. On any
// error, including ctx being cancelled, it leaves nothing behind (but a
// store that Force rotated keeps the new secret if the final rename fails).
func Seal(ctx context.Context, opts Options) (*Result, error) {
	o := opts
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if err := o.checkInput(); err != nil {
		return nil, err
	}
	if err := errors.Join(o.checkOutputs(), o.resolve(os.Geteuid() == 0)); err != nil {
		return nil, err
	}
	st, err := newStage(o.Output)
	if err != nil {
		return nil, err
	}
	s := &sealer{o: &o, st: st, img: filepath.Join(st.work, "image")}
	start := o.Now()
	if err := s.run(ctx); err != nil {
		st.abort()
		return nil, err
	}
	s.res.Elapsed = o.Now().Sub(start)
	return &s.res, nil
}

// run makes the verity-protected volume step by step, then seals and
// publishes it.
func (s *sealer) run(ctx context.Context) error {
	o, asRoot := s.o, os.Geteuid() == 0
	steps := []struct {
		name string
		run  func() error
	}{
		{"rootfs", func() (err error) { s.tree, err = prepareInput(ctx, o, s.st.work, asRoot); return err }},
		{"mkfs", func() (err error) { s.fs, err = makeFS(ctx, o, s.tree, s.img); return err }},
		{"verity", func() (err error) {
			s.verity, s.hashes, err = makeVerity(ctx, o.Tools.Veritysetup, s.img, s.fs)
			return err
		}},
		{"verity-check", func() error { return verifyVerity(ctx, o.Tools.Veritysetup, s.img, s.verity) }},
	}
	if o.FSImage != "" {
		steps[0].name, steps[0].run = "fs-image", func() (err error) { s.tree, s.fs, err = copyFSImage(o, s.img); return err }
		steps = slices.Delete(steps, 1, 2)
	}
	for _, st := range steps {
		if err := s.step(ctx, st.name, st.run); err != nil {
			return err
		}
	}
	return s.sealAndPublish(ctx)
}

// step runs one named step between two progress reports.
func (s *sealer) step(ctx context.Context, name string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	start := s.o.Now()
	s.o.report(Progress{Step: name})
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.o.report(Progress{Step: name, Finished: true, Elapsed: s.o.Now().Sub(start)})
	return nil
}

// sealAndPublish encrypts, checks, and writes the outputs; the key lives
// only inside it.
func (s *sealer) sealAndPublish(ctx context.Context) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	defer key.Wipe()
	dir, err := keyDir(s.o.keyBase)
	if err != nil {
		return fmt.Errorf("creating the key directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := s.step(ctx, "luks", func() error { return s.encrypt(ctx, key, dir) }); err != nil {
		return err
	}
	err = s.step(ctx, "luks-check", func() (err error) {
		s.meta, err = checkSealed(s.img, s.uuid, key, dir, s.fs+s.hashes)
		return err
	})
	if err != nil {
		return err
	}
	payload, err := s.payload(key)
	if err != nil {
		return err
	}
	defer clear(payload)
	return s.publish(ctx, payload)
}

// encrypt runs cryptsetup with the key in a private file, then trims the tail.
func (s *sealer) encrypt(ctx context.Context, key *secret.Buffer, dir string) error {
	keyFile, done, err := writeKeyFile(dir, key)
	if err != nil {
		return err
	}
	defer done()
	s.uuid = s.o.UUID
	if s.uuid == "" {
		s.uuid = uuid.NewString()
	}
	onLine := func(line string) {
		if p, ok := parseProgress("luks", line); ok {
			s.o.report(p)
		}
	}
	if err := encrypt(ctx, s.o.Tools.Cryptsetup, s.img, keyFile, s.uuid, onLine); err != nil {
		return err
	}
	return trimTail(s.img, s.uuid, s.fs+s.hashes)
}

// payload marshals the broker resource and checks that the guest's strict
// decoder reads back exactly what was sealed. The caller clears it.
func (s *sealer) payload(key *secret.Buffer) ([]byte, error) {
	p := disk.Payload{Key: key, LUKSUUID: s.meta.UUID, HeaderSHA256: s.meta.Identity(), Verity: s.verity}
	b, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	back, err := disk.ParsePayload(b)
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("%w: the guest refuses the payload: %w", ErrSelfCheck, err)
	}
	defer back.Key.Wipe()
	if back.LUKSUUID != p.LUKSUUID || back.HeaderSHA256 != p.HeaderSHA256 || back.Verity == nil ||
		*back.Verity != *p.Verity || !bytes.Equal(back.Key.Bytes(), key.Bytes()) {
		clear(b)
		return nil, fmt.Errorf("%w: the payload does not read back as sealed", ErrSelfCheck)
	}
	return b, nil
}
