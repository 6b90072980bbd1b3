package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/cvminit/cvminit/cmd/cvmctl/seal"
	"github.com/cvminit/cvminit/initramfs/launch"
)

const sealUsage = `usage: cvmctl seal (--rootfs DIR|TAR | --fs-image IMG) --out IMAGE (--payload FILE | --store DIR) [flags]

Seals a root file system (a directory, or a plain or gzip tar archive, or a
ready file system image) into
the disk image a cvminit guest boots: ext4 (or erofs) with a dm-verity hash
tree right after it, LUKS2-encrypted in place with a fresh random key, raw
(or qcow2). Checks the result with the guest's own header guard, key check
and payload decoder, writes IMAGE.manifest.json (no secrets), and the broker
resource (the disk payload JSON: key, LUKS UUID, header identity, verity root
hash) to --payload (0600) and/or into the key broker store --store with the
allowed launch digests: --measurement HEX, and/or the digest computed from
--ovmf, --kernel, --initrd, --append, --vcpus, --vcpu-type, ... exactly as
cvmctl measure does.

Needs cryptsetup-bin and e2fsprogs (not for --fs-image; erofs-utils for --fs erofs, qemu-utils
for --format qcow2); no device-mapper, no loop device, no root (as root, a
tar archive's device nodes can be extracted too). Nothing is left behind on
failure or Ctrl-C. Progress goes to stderr when it is a terminal; the
summary to stdout. Exit status: 0 sealed, 1 failed, 2 usage.

flags:`

// sealArgs are the flags of cvmctl seal.
type sealArgs struct {
	o            seal.Options
	size         string
	measurements []string
	m            measureArgs
	quiet        bool
}

// measureFlags are the flags of cvmctl measure that seal takes too.
var measureFlags = []string{"ovmf", "kernel", "initrd", "append", "vcpus", "vcpu-type", "vcpu-sig", "vcpu-family",
	"vcpu-model", "vcpu-stepping", "vmm-type", "guest-features", "snp-ovmf-hash"}

func newSealFlags(a *sealArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl seal", flag.ContinueOnError)
	fs.StringVar(&a.o.Input, "rootfs", "", "root file system: a directory or a tar archive (this or --fs-image)")
	fs.StringVar(&a.o.FSImage, "fs-image", "", "a ready file system image of type --fs, sealed as it is (instead of --rootfs)")
	fs.StringVar(&a.o.UUID, "uuid", "", "LUKS UUID to record, as the guest config pins it (default: a fresh random one)")
	fs.StringVar(&a.o.Output, "out", "", "disk image to write (required)")
	fs.StringVar(&a.o.FS, "fs", seal.FSExt4, "file system: ext4 or erofs")
	fs.StringVar(&a.o.Format, "format", seal.FormatRaw, "image format: raw or qcow2")
	fs.StringVar(&a.size, "size", "", "ext4 size, bytes or with K/M/G/T (default: from the tree, +20% +16M)")
	fs.StringVar(&a.o.Manifest, "manifest", "", "manifest path (default IMAGE.manifest.json)")
	fs.StringVar(&a.o.Payload, "payload", "", "write the broker resource (holds the key) to this new 0600 file")
	fs.StringVar(&a.o.Store, "store", "", "put the broker resource into this key broker store directory")
	fs.StringVar(&a.o.Resource, "resource", seal.DefaultResource, "broker resource path (repo/type/tag)")
	fs.Func("measurement", "allowed launch digest, 96 hex digits (repeatable)", func(s string) error {
		a.measurements = append(a.measurements, s)
		return nil
	})
	fs.BoolVar(&a.o.Force, "force", false, "replace existing outputs; rotate an existing store resource")
	fs.BoolVar(&a.quiet, "quiet", false, "print nothing but errors")
	mfs := newMeasureFlags(&a.m)
	for _, name := range measureFlags {
		f := mfs.Lookup(name)
		fs.Var(f.Value, name, "launch digest: "+strings.TrimSuffix(f.Usage, " (required)")+" (as cvmctl measure)")
	}
	return fs
}

// runSeal implements cvmctl seal; args start after "seal".
func runSeal(args []string, stdout, stderr io.Writer) int {
	const name = "cvmctl seal"
	a := &sealArgs{}
	fs := newSealFlags(a)
	done, err := parseFlags(fs, args, sealUsage, stderr)
	if done || err != nil {
		return exitWith(stderr, name, err)
	}
	a.m.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { a.m.set[f.Name] = true })
	if err := a.options(); err != nil {
		return exitWith(stderr, name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	line := newProgressLine(stderr, a.quiet)
	a.o.Progress = line.update
	r, err := seal.Seal(ctx, a.o)
	line.stop()
	if errors.Is(err, seal.ErrOptions) {
		err = usageError{oneLine(err)}
	}
	if err != nil {
		return exitWith(stderr, name, err)
	}
	if !a.quiet {
		printSummary(stdout, r)
	}
	return 0
}

// options checks the flags and fills a.o: size, measurements and the
// computed launch digest.
func (a *sealArgs) options() error {
	switch {
	case (a.o.Input == "") == (a.o.FSImage == ""):
		return usagef("give exactly one of --rootfs DIR|TAR and --fs-image IMG")
	case a.o.Output == "":
		return usagef("--out IMAGE is required")
	case a.o.Payload == "" && a.o.Store == "":
		return usagef("give --payload FILE and/or --store DIR: the key must go somewhere")
	}
	var err error
	if a.size != "" {
		if a.o.Size, err = parseSize(a.size); err != nil {
			return err
		}
	}
	a.o.Measurements = a.measurements
	d, err := a.digest()
	if d != "" {
		a.o.Measurements = append(a.o.Measurements, d)
	}
	return err
}

// digest computes the launch digest when --ovmf is given, as cvmctl
// measure does; "" without --ovmf.
func (a *sealArgs) digest() (string, error) {
	if !a.m.set["ovmf"] {
		for _, n := range measureFlags {
			if a.m.set[n] {
				return "", usagef("--%s needs --ovmf: the launch digest is computed from the firmware", n)
			}
		}
		return "", nil
	}
	o, err := a.m.options()
	if err != nil {
		return "", err
	}
	d, err := launch.Digest(o)
	if err != nil {
		return "", fmt.Errorf("launch digest of %s: %w", a.m.ovmf, err)
	}
	return hex.EncodeToString(d[:]), nil
}

// parseSize reads a byte count with an optional binary suffix K, M, G or T
// (KiB, MiB, ... also accepted).
func parseSize(s string) (int64, error) {
	num, shift := strings.TrimSuffix(strings.ToUpper(s), "IB"), 0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("KMGT", num[n-1]); i >= 0 {
			num, shift = num[:n-1], 10*(i+1)
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<50)>>shift {
		return 0, usagef("--size %q: want a positive byte count, optionally with K, M, G or T", s)
	}
	return v << shift, nil
}

// progressLine redraws one status line on a terminal: the step, its
// elapsed time and, while encrypting, percent, rate and ETA.
type progressLine struct {
	w     io.Writer
	mu    sync.Mutex
	last  seal.Progress
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

// newProgressLine returns a line that draws only if w is a terminal.
func newProgressLine(w io.Writer, quiet bool) *progressLine {
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return p
	}
	p.done = make(chan struct{})
	p.wg.Add(1)
	go p.tick()
	return p
}

func (p *progressLine) update(e seal.Progress) {
	if p.done == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Step != p.last.Step {
		p.start = time.Now()
	}
	p.last = e
	p.draw()
}

func (p *progressLine) tick() {
	defer p.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

func (p *progressLine) draw() {
	e := p.last
	if e.Step == "" {
		return
	}
	s := fmt.Sprintf("cvmctl seal: %s %s", e.Step, time.Since(p.start).Round(100*time.Millisecond))
	if e.Total > 0 && !e.Finished {
		s += fmt.Sprintf(" %3.0f%% %.0f MB/s ETA %s", 100*float64(e.Done)/float64(e.Total), e.Rate/1e6,
			e.ETA.Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
}

// stop ends the redraws and clears the line.
func (p *progressLine) stop() {
	if p.done == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	fmt.Fprint(p.w, "\r\033[K")
}

// printSummary tells the operator what was made and what to do with it.
func printSummary(w io.Writer, r *seal.Result) {
	m := r.Info
	fmt.Fprintf(w, "sealed %s in %s: %s %s, %d bytes (file system %d + verity tree %d + LUKS2 header %d)\n",
		r.Image, r.Elapsed.Round(time.Millisecond), m.Image.Format, m.FS.Type, m.Sizes.File, m.Sizes.FS,
		m.Sizes.HashTree, m.LUKS.DataOffset)
	kv := func(k, v string) { fmt.Fprintf(w, "  %-14s %s\n", k, v) }
	kv("manifest", r.Manifest)
	kv("LUKS UUID", m.LUKS.UUID)
	kv("header sha256", m.LUKS.HeaderSHA256)
	kv("verity root", m.Verity.RootHash)
	if r.Payload != "" {
		kv("payload", r.Payload+" (0600: it holds the disk key)")
	}
	if r.Store != "" {
		done := "added " + m.Broker.Resource
		if r.Rotated {
			done = "rotated " + m.Broker.Resource + " (its earlier launch digests stay allowed)"
		}
		kv("broker store", r.Store+": "+done)
	}
	for _, d := range m.Broker.Measurements {
		kv("launch digest", d)
	}
	if len(m.Broker.Measurements) == 0 {
		kv("launch digest", "none given: only the broker policy's attestation.allowed_measurements can get the key")
	}
	printNextSteps(w, r)
}

// printNextSteps shows how to hand the payload to a broker and the policy
// lines that allow the digests for every resource.
func printNextSteps(w io.Writer, r *seal.Result) {
	ms := r.Info.Broker.Measurements
	if r.Payload != "" {
		fmt.Fprintf(w, "register it with a broker, then delete %s:\n  keybroker resource add --store DIR --path %s --secret-file %s",
			r.Payload, r.Info.Broker.Resource, r.Payload)
		for _, d := range ms {
			fmt.Fprintf(w, " --measurement %s", d)
		}
		fmt.Fprintln(w)
	}
	if len(ms) > 0 {
		fmt.Fprintln(w, "or allow the digest(s) for every resource in the broker policy:\n  attestation:\n    allowed_measurements:")
		for _, d := range ms {
			fmt.Fprintf(w, "      - %q\n", d)
		}
	}
}
