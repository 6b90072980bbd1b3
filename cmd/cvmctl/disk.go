package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/secret"
)

const diskUsage = `usage: cvmctl disk check (--key-file FILE | --payload FILE) [--uuid UUID] [--json] IMAGE
       cvmctl disk identity --key-file FILE [--uuid UUID] IMAGE

Runs the guest's LUKS2 header guard on IMAGE (a disk image or block device)
and, if the header passes, the guest's key check on the validated copy (no
device-mapper needed). With --payload (the broker resource cvmctl seal
wrote), the key comes from the payload and the image must also be the disk
it names: LUKS UUID and header identity, as the guest checks them. Prints
the verdict, the disk's identity and why. Exit status: 0 accepted, 1
refused, 2 usage.

flags:`

// maxKeyFile bounds the key file (cryptsetup's own limit is 8 MiB).
const maxKeyFile = 8 << 20

type diskArgs struct {
	keyFile, payload, uuid, image string
	json                          bool
}

// diskVerdict is the outcome of cvmctl disk check (--json prints it).
type diskVerdict struct {
	Image    string       `json:"image"`
	Accepted bool         `json:"accepted"`
	Reason   string       `json:"reason,omitempty"`
	Layout   *disk.Layout `json:"layout,omitempty"`
	// Identity is the header identity (disk.Metadata.Identity) the broker
	// payload must name; Verity the payload's dm-verity root hash, if any.
	Identity string `json:"header_sha256,omitempty"`
	Verity   string `json:"verity_root_hash,omitempty"`
}

func newDiskFlags(a *diskArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl disk check", flag.ContinueOnError)
	fs.StringVar(&a.keyFile, "key-file", "", "file holding the disk key (or --payload)")
	fs.StringVar(&a.payload, "payload", "", "the disk's broker payload (cvmctl seal --payload): key and identity (check only)")
	fs.StringVar(&a.uuid, "uuid", "", "LUKS UUID the header must carry (default: any)")
	fs.BoolVar(&a.json, "json", false, "print the verdict as JSON")
	return fs
}

// runDisk implements cvmctl disk; args start after "disk".
func runDisk(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			code = exitWith(stderr, "cvmctl disk check", fmt.Errorf("internal error: %v", p))
		}
	}()
	if len(args) > 0 && args[0] == "identity" {
		return runDiskIdentity(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stderr, diskUsage)
			newDiskFlags(&diskArgs{}).PrintDefaults()
			return 0
		}
		return exitWith(stderr, "cvmctl disk", usagef("want the sub-command check or identity (cvmctl disk --help)"))
	}
	a := &diskArgs{}
	done, err := a.parse(args[1:], diskUsage, stderr)
	if done || err != nil {
		return exitWith(stderr, "cvmctl disk check", err)
	}
	v, err := a.check()
	if err != nil {
		return exitWith(stderr, "cvmctl disk check", err)
	}
	if err := v.print(stdout, a.json); err != nil {
		return exitWith(stderr, "cvmctl disk check", err)
	}
	if !v.Accepted {
		return 1
	}
	return 0
}

// parse reads the flags, which may come before or after the one IMAGE.
func (a *diskArgs) parse(args []string, usage string, stderr io.Writer) (done bool, err error) {
	pos, done, err := parseInterspersed(newDiskFlags(a), args, usage, stderr)
	if done || err != nil {
		return done, err
	}
	switch {
	case len(pos) != 1:
		return false, usagef("want exactly one IMAGE, got %d", len(pos))
	case (a.keyFile == "") == (a.payload == ""):
		return false, usagef("give exactly one of --key-file and --payload")
	}
	a.image = pos[0]
	return false, nil
}

// check runs the guard and the key check. A refusal is a verdict; an error
// means the check could not run (unreadable key file or image).
func (a *diskArgs) check() (*diskVerdict, error) {
	if a.payload != "" {
		return a.checkPayload()
	}
	key, err := readKey(a.keyFile)
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	v, _, err := a.inspect(key)
	return v, err
}

// inspect runs the guard and the key check with key on a.image and returns
// the verdict and, if accepted, the validated metadata.
func (a *diskArgs) inspect(key *secret.Buffer) (*diskVerdict, *disk.Metadata, error) {
	f, err := os.Open(a.image)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd) // works for block devices too
	if err != nil {
		return nil, nil, fmt.Errorf("size of %s: %w", a.image, err)
	}
	v := &diskVerdict{Image: a.image}
	m, err := disk.ReadMetadata(f, uint64(size), a.uuid)
	if err != nil {
		v, err = v.refuse(err)
		return v, nil, err
	}
	dir, err := os.MkdirTemp("", "cvmctl-disk-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	if err := disk.CheckKey(m, key.Bytes(), dir); err != nil {
		v, err = v.refuse(err)
		return v, nil, err
	}
	v.Accepted, v.Layout, v.Identity = true, &m.Layout, m.Identity()
	return v, m, nil
}

// refuse turns a guard or key refusal into a verdict; other errors (the
// image could not be read) stay errors.
func (v *diskVerdict) refuse(err error) (*diskVerdict, error) {
	if !errors.Is(err, disk.ErrHeaderRejected) && !errors.Is(err, disk.ErrWrongKey) {
		return nil, err
	}
	v.Reason = oneLine(err)
	return v, nil
}

// readKey reads a regular key file straight into a secret.Buffer, so no
// other copy of the key is left in memory.
func readKey(path string) (*secret.Buffer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() < 1 || st.Size() > maxKeyFile {
		return nil, fmt.Errorf("key file %s: want a regular file of 1 to %d bytes", path, maxKeyFile)
	}
	key := secret.New(int(st.Size()))
	if _, err := io.ReadFull(f, key.Bytes()); err != nil {
		key.Wipe()
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	return key, nil
}

func (v *diskVerdict) print(w io.Writer, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	}
	if !v.Accepted {
		_, err := fmt.Fprintf(w, "%s: REFUSED: %s\n", v.Image, v.Reason)
		return err
	}
	l := v.Layout
	size := "dynamic"
	if l.Size != 0 {
		size = fmt.Sprint(l.Size)
	}
	_, err := fmt.Fprintf(w, "%s: ACCEPTED: LUKS2 uuid %s, %s, %d-byte volume key, %d-byte sectors, data at %d (size %s), %d keyslot(s), header %d bytes\n  header identity %s\n",
		v.Image, l.UUID, l.Cipher, l.KeySize, l.SectorSize, l.Offset, size, l.Keyslots, l.HdrSize, v.Identity)
	if err == nil && v.Verity != "" {
		_, err = fmt.Fprintf(w, "  verity root hash %s (from the payload, which names this disk)\n", v.Verity)
	}
	return err
}
