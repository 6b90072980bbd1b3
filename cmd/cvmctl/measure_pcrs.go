package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/cvminit/cvminit/agent"
	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/tpm"
)

// pcrArgs are the flags of cvmctl measure --pcrs, which prints the final
// TPM PCR values cvminit's measured boot gives (agent/tpm's scheme, the
// events of agent.BootEvents): PCR 11 from the initramfs's /init and
// config and the phase words, PCR 12 from the command line, PCR 15 from
// the disk's identity and dm-verity root hash. These are the values at
// switch_root: systemd in the new root may extend PCRs 11 and 15 further
// (systemd-pcrphase, machine-id, file systems) and logs that in the same
// tpm2-measure.log. They assume nothing before cvminit extends these
// PCRs, as with a direct kernel boot (a systemd-stub UKI would measure
// into 11 and 12 itself).
//
// The command line (--append) must be the guest's /proc/cmdline. With
// SeaBIOS and QEMU's direct kernel boot that is exactly the -append
// string; OVMF's direct boot adds "initrd=initrd" to it (edk2's
// QemuLoadImageLib appends " initrd=initrd" when an initrd is given), and
// other firmware or boot loaders may change it too: check /proc/cmdline
// in one boot. Surrounding white space does not count.
type pcrArgs struct {
	on, json                                 bool
	payload, luksUUID, headerSHA, verityHash string
}

func (p *pcrArgs) flags(fs *flag.FlagSet) {
	fs.BoolVar(&p.on, "pcrs", false, "print the final TPM PCR 11, 12 and 15 values of cvminit's measured boot "+
		"(needs --initrd, --append and the disk; no --ovmf)")
	fs.BoolVar(&p.json, "json", false, "with --pcrs: print a JSON object with the PCRs and the event list")
	fs.StringVar(&p.payload, "payload", "", "with --pcrs: the disk's broker payload (cvmctl seal); the key is never printed")
	fs.StringVar(&p.luksUUID, "luks-uuid", "", "with --pcrs, instead of --payload: the disk's LUKS UUID")
	fs.StringVar(&p.headerSHA, "header-sha256", "", "with --pcrs, instead of --payload: the disk's header identity")
	fs.StringVar(&p.verityHash, "verity-root-hash", "", "with --pcrs, instead of --payload: the dm-verity root hash "+
		"(leave out only for a disk without dm-verity)")
}

// pcrOnlyFlags are the flags only --pcrs takes.
func pcrOnlyFlags() []string {
	return []string{"json", "payload", "luks-uuid", "header-sha256", "verity-root-hash"}
}

// pcrsShown are the PCRs cvminit measures into, as printed.
func pcrsShown() []int { return []int{tpm.PCRPhase, tpm.PCRCmdline, tpm.PCRVolume} }

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// diskIdentity is what the boot measures of the disk.
type diskIdentity struct{ uuid, headerSHA, verity string }

// runPCRs implements measure --pcrs: the events of a whole boot, replayed.
func (a *measureArgs) runPCRs() (string, error) {
	if err := a.checkPCRFlags(); err != nil {
		return "", err
	}
	id, err := a.pcrs.identity()
	if err != nil {
		return "", err
	}
	exe, cfgJSON, err := initramfsFiles(a.initrd)
	if err != nil {
		return "", err
	}
	cfg, err := config.Decode(cfgJSON)
	if err != nil {
		return "", fmt.Errorf("%s: the guest would refuse its config: %w", a.initrd, err)
	}
	if err := id.check(cfg); err != nil {
		return "", err
	}
	events := agent.BootEvents(agent.BootInputs{Binary: exe, Config: cfgJSON, Cmdline: a.appendLine,
		LUKSUUID: id.uuid, HeaderSHA256: id.headerSHA, VerityRootHash: id.verity})
	if a.pcrs.json {
		return pcrJSON(events)
	}
	return pcrText(events), nil
}

// checkPCRFlags refuses the launch-digest flags and requires the image and
// the command line.
func (a *measureArgs) checkPCRFlags() error {
	allowed := append(pcrOnlyFlags(), "pcrs", "initrd", "append")
	var names []string
	for f := range a.set {
		names = append(names, f)
	}
	slices.Sort(names)
	for _, f := range names {
		if !slices.Contains(allowed, f) {
			return usagef("--%s does not apply to --pcrs", f)
		}
	}
	switch {
	case !a.set["initrd"]:
		return usagef("--pcrs needs --initrd FILE (the image cvmctl initramfs build wrote)")
	case !a.set["append"]:
		return usagef("--pcrs needs --append LINE (the guest's /proc/cmdline; --append '' for none)")
	}
	return nil
}

// identity takes the disk's identity from the payload or the flags.
func (p *pcrArgs) identity() (diskIdentity, error) {
	byFlags := p.luksUUID != "" || p.headerSHA != "" || p.verityHash != ""
	switch {
	case p.payload != "" && byFlags:
		return diskIdentity{}, usagef("give --payload or --luks-uuid, --header-sha256 and --verity-root-hash, not both")
	case p.payload != "":
		return payloadIdentity(p.payload)
	case p.luksUUID == "" || p.headerSHA == "":
		return diskIdentity{}, usagef("--pcrs needs --payload FILE, or --luks-uuid and --header-sha256")
	case !hexDigest.MatchString(p.headerSHA):
		return diskIdentity{}, usagef("--header-sha256 %q: want 64 hex digits", p.headerSHA)
	case p.verityHash != "" && !hexDigest.MatchString(p.verityHash):
		return diskIdentity{}, usagef("--verity-root-hash %q: want 64 hex digits", p.verityHash)
	}
	return diskIdentity{uuid: p.luksUUID, headerSHA: p.headerSHA, verity: p.verityHash}, nil
}

// payloadIdentity reads the non-secret part of a payload; the key is
// wiped at once.
func payloadIdentity(file string) (diskIdentity, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return diskIdentity{}, fmt.Errorf("reading payload: %w", err)
	}
	defer clear(raw)
	if len(raw) > maxPayloadFile {
		return diskIdentity{}, fmt.Errorf("payload %s: larger than %d bytes", file, maxPayloadFile)
	}
	p, err := disk.ParsePayload(raw)
	if err != nil {
		return diskIdentity{}, fmt.Errorf("payload %s: %w", file, err)
	}
	p.Key.Wipe()
	id := diskIdentity{uuid: p.LUKSUUID, headerSHA: p.HeaderSHA256}
	if p.Verity != nil {
		id.verity = p.Verity.RootHash
	}
	return id, nil
}

// check refuses an identity with which the image's guest would not reach
// the measurements: it would not measure at all, not unlock that disk, or
// refuse its dm-verity root hash.
func (id diskIdentity) check(cfg *config.Config) error {
	d := cfg.Disk
	switch {
	case cfg.TPM.Mode == config.TPMOff:
		return fmt.Errorf("the image's config has tpm.mode off: the guest measures nothing")
	case !strings.EqualFold(id.uuid, d.LUKSUUID):
		return fmt.Errorf("LUKS UUID %s is not the image's disk.luks_uuid %s", id.uuid, d.LUKSUUID)
	case id.verity == "" && d.Integrity != config.IntegrityNone:
		return fmt.Errorf("no dm-verity root hash, but the image's disk.integrity is %q: give --verity-root-hash "+
			"or a payload that describes the tree", d.Integrity)
	case d.VerityRootHash != "" && !strings.EqualFold(id.verity, d.VerityRootHash):
		return fmt.Errorf("dm-verity root hash %s is not the image's disk.verity_root_hash %s", id.verity,
			d.VerityRootHash)
	}
	return nil
}

// pcrText renders "pcr11=<hex>" lines, one per PCR, without a final newline.
func pcrText(events []tpm.Event) string {
	pcrs := tpm.Replay(events)
	var lines []string
	for _, n := range pcrsShown() {
		v := pcrs[n]
		lines = append(lines, fmt.Sprintf("pcr%d=%s", n, hex.EncodeToString(v[:])))
	}
	return strings.Join(lines, "\n")
}

// pcrEvent is one event of the JSON output.
type pcrEvent struct {
	PCR    int    `json:"pcr"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// pcrJSON renders {"pcr11": hex, "pcr12": hex, "pcr15": hex, "events": [...]}.
func pcrJSON(events []tpm.Event) (string, error) {
	out := map[string]any{}
	pcrs := tpm.Replay(events)
	for _, n := range pcrsShown() {
		v := pcrs[n]
		out[fmt.Sprintf("pcr%d", n)] = hex.EncodeToString(v[:])
	}
	list := make([]pcrEvent, 0, len(events))
	for _, e := range events {
		list = append(list, pcrEvent{PCR: e.PCR, Name: e.Name, SHA256: hex.EncodeToString(e.Digest[:])})
	}
	out["events"] = list
	b, err := json.MarshalIndent(out, "", "  ")
	return string(b), err
}
