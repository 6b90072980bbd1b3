package main

import (
	"fmt"
	"io"

	"github.com/cvminit/cvminit/agent/disk"
)

const diskIdentityUsage = `usage: cvmctl disk identity --key-file FILE [--uuid UUID] IMAGE

Runs the same guard and key check as cvmctl disk check on IMAGE and, if the
disk is accepted, prints the disk key payload on stdout:

  {"version":1,"key":"<base64 key>","luks_uuid":"<uuid>","header_sha256":"<identity>"}

This JSON is the secret to store as the disk's broker resource: the guest
unlocks only the disk whose LUKS UUID and header identity it names. It holds
the key, so it is printed on stdout only (never on stderr or in logs);
redirect it straight into the broker's resource file. Exit status: 0 printed,
1 refused, 2 usage.

flags:`

// runDiskIdentity implements cvmctl disk identity; args start after
// "identity".
func runDiskIdentity(args []string, stdout, stderr io.Writer) int {
	const name = "cvmctl disk identity"
	a := &diskArgs{}
	done, err := a.parse(args, diskIdentityUsage, stderr)
	if done || err != nil {
		return exitWith(stderr, name, err)
	}
	if a.json {
		return exitWith(stderr, name, usagef("--json is not a flag of identity: its output is always JSON"))
	}
	key, err := readKey(a.keyFile)
	if err != nil {
		return exitWith(stderr, name, err)
	}
	defer key.Wipe()
	v, m, err := a.inspect(key)
	if err != nil {
		return exitWith(stderr, name, err)
	}
	if !v.Accepted {
		fmt.Fprintf(stderr, "%s: REFUSED: %s\n", v.Image, v.Reason)
		return 1
	}
	out, err := disk.Payload{Key: key, LUKSUUID: m.UUID, HeaderSHA256: m.Identity()}.Marshal()
	if err != nil {
		return exitWith(stderr, name, err)
	}
	defer clear(out)
	if _, err := stdout.Write(out); err != nil {
		return exitWith(stderr, name, err)
	}
	if _, err := io.WriteString(stdout, "\n"); err != nil {
		return exitWith(stderr, name, err)
	}
	return 0
}
