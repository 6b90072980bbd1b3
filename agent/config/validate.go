package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// FieldError names the configuration member that failed validation.
type FieldError struct {
	Field  string // dotted JSON path, e.g. "broker.url"
	Reason string
}

// Error reads "config: <field>: <reason>".
func (e *FieldError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Reason) }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Values of disk.integrity.
const (
	// IntegrityVerity requires the dm-verity tree the payload describes.
	IntegrityVerity = "verity"
	// IntegrityNone uses the root without integrity protection.
	IntegrityNone = "none"
)

// Bounds enforced by Validate.
const (
	MinDeadline     = time.Second
	MaxDeadline     = time.Hour
	MaxFailureDelay = time.Minute
	MaxAttempts     = 50
	MaxModules      = 512
	// MinMinMemoryMiB is the lowest boot.min_memory_mib: below it cvminit
	// itself runs out of memory, so a lower minimum would check nothing.
	MinMinMemoryMiB = 64
	// MaxMinMemoryMiB is the highest boot.min_memory_mib (1 TiB).
	MaxMinMemoryMiB = 1 << 20
)

var (
	portName     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	resourceSeg  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	ifaceName    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	dmName       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	uuidText     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	mountOptions = regexp.MustCompile(`^[A-Za-z0-9_=.,-]{0,256}$`)
	moduleSuffix = regexp.MustCompile(`\.ko(\.xz|\.zst|\.gz)?$`)
	rootHash     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// checker collects field errors.
type checker struct{ errs []error }

func (c *checker) fail(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.fail(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// Validate checks every member and returns all problems joined, each a
// *FieldError wrapping ErrInvalid. It does not apply defaults.
func (c *Config) Validate() error {
	var ch checker
	if c.Version != Version {
		ch.fail("version", "%d is not supported (want %d)", c.Version, Version)
	}
	c.validateAttestation(&ch)
	ch.oneOf("tpm.mode", c.TPM.Mode, TPMAuto, TPMRequired, TPMOff)
	c.validateBroker(&ch)
	c.Network.validate(&ch)
	c.Disk.validate(&ch)
	validateModules(&ch, c.Modules)
	c.validateBoot(&ch)
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	return errors.Join(ch.errs...)
}

func (c *Config) validateAttestation(ch *checker) {
	a := c.Attestation
	ch.oneOf("attestation.provider", a.Provider, "auto", "configfs-tsm", "sev-guest", "emulated")
	if a.Provider == "emulated" && !portName.MatchString(a.EmulatorPort) {
		ch.fail("attestation.emulator_port", "%q is not a virtio-serial port name", a.EmulatorPort)
	}
	if a.Provider != "emulated" && a.EmulatorPort != "" {
		ch.fail("attestation.emulator_port", "set, but provider is %q", a.Provider)
	}
}

func (c *Config) validateBroker(ch *checker) {
	b := c.Broker
	c.validateBrokerURL(ch)
	if b.CAPEM != "" || !b.InsecureHTTP {
		if err := checkCAPEM(b.CAPEM); err != nil {
			ch.fail("broker.ca_pem", "%v", err)
		}
	}
	if err := checkResource(b.Resource); err != nil {
		ch.fail("broker.resource", "%v", err)
	}
	if b.Attempts < 1 || b.Attempts > MaxAttempts {
		ch.fail("broker.attempts", "%d is outside 1..%d", b.Attempts, MaxAttempts)
	}
	if b.Timeout <= 0 || b.Timeout > c.Boot.Deadline {
		ch.fail("broker.timeout", "%s must be positive and at most boot.deadline (%s)", b.Timeout, c.Boot.Deadline)
	}
}

func (c *Config) validateBrokerURL(ch *checker) {
	b := c.Broker
	u, err := url.Parse(b.URL)
	switch {
	case b.URL == "":
		ch.fail("broker.url", "required")
	case err != nil:
		ch.fail("broker.url", "%v", err)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		ch.fail("broker.url", "%q: want scheme://host[:port] only", b.URL)
	case u.Scheme == "https" && b.InsecureHTTP:
		ch.fail("broker.insecure_http", "set, but the URL is https")
	case u.Scheme == "http" && !b.InsecureHTTP:
		ch.fail("broker.url", "http is refused unless broker.insecure_http is set (debug images only)")
	case u.Scheme != "https" && u.Scheme != "http":
		ch.fail("broker.url", "scheme %q: want https", u.Scheme)
	}
	if b.InsecureHTTP && !c.Debug {
		ch.fail("broker.insecure_http", "only a debug image may talk to the broker without TLS")
	}
}

// checkCAPEM accepts one or more CERTIFICATE blocks and nothing else.
func checkCAPEM(text string) error {
	rest := []byte(text)
	n := 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %q: only CERTIFICATE blocks are allowed", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if strings.TrimSpace(string(rest)) != "" {
		return errors.New("text outside PEM blocks")
	}
	if n == 0 {
		return errors.New("required: no CERTIFICATE block (the broker's TLS identity must be pinned)")
	}
	return nil
}

func checkResource(p string) error {
	segs := strings.Split(p, "/")
	if len(segs) != 3 {
		return fmt.Errorf("%q: want repository/type/tag", p)
	}
	for _, s := range segs {
		if !resourceSeg.MatchString(s) || s == "." || s == ".." {
			return fmt.Errorf("%q: bad segment %q", p, s)
		}
	}
	return nil
}

func (n Network) validate(ch *checker) {
	ch.oneOf("network.mode", n.Mode, "dhcp", "static")
	if !ifaceName.MatchString(n.Interface) {
		ch.fail("network.interface", "%q is not an interface name", n.Interface)
	}
	if n.Mode != "static" {
		if n.Address != "" || n.Gateway != "" || len(n.DNS) > 0 {
			ch.fail("network", "address, gateway and dns are for mode static only")
		}
		return
	}
	pfx, err := netip.ParsePrefix(n.Address)
	if err != nil {
		ch.fail("network.address", "want CIDR such as 10.0.2.15/24: %v", err)
	}
	if n.Gateway != "" {
		gw, err := netip.ParseAddr(n.Gateway)
		if err != nil || (pfx.IsValid() && !pfx.Masked().Contains(gw)) {
			ch.fail("network.gateway", "%q is not an address inside %s", n.Gateway, n.Address)
		}
	}
	for i, d := range n.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			ch.fail(fmt.Sprintf("network.dns[%d]", i), "%q is not an IP address", d)
		}
	}
}

func (d Disk) validate(ch *checker) {
	if !uuidText.MatchString(d.LUKSUUID) {
		ch.fail("disk.luks_uuid", "%q is not a UUID", d.LUKSUUID)
	}
	if !dmName.MatchString(d.Name) {
		ch.fail("disk.name", "%q is not a device-mapper name ([A-Za-z0-9_-], 1..64)", d.Name)
	}
	ch.oneOf("disk.fstype", d.FSType, "ext4", "erofs")
	switch {
	case !mountOptions.MatchString(d.Options):
		ch.fail("disk.options", "%q: want comma-separated mount options", d.Options)
	case d.Integrity == IntegrityVerity && slices.Contains(strings.Split(d.Options, ","), "rw"):
		ch.fail("disk.options", "rw: a dm-verity root is always read-only")
	}
	ch.oneOf("disk.integrity", d.Integrity, IntegrityVerity, IntegrityNone)
	switch {
	case d.VerityRootHash == "":
	case !rootHash.MatchString(d.VerityRootHash):
		ch.fail("disk.verity_root_hash", "%q: want 64 lower-case hex digits", d.VerityRootHash)
	case d.Integrity != IntegrityVerity:
		ch.fail("disk.verity_root_hash", "set, but disk.integrity is %q", d.Integrity)
	}
}

func validateModules(ch *checker, mods []string) {
	if len(mods) > MaxModules {
		ch.fail("modules", "%d entries, limit %d", len(mods), MaxModules)
		return
	}
	seen := make(map[string]bool, len(mods))
	for i, m := range mods {
		field := fmt.Sprintf("modules[%d]", i)
		switch {
		case !path.IsAbs(m) || path.Clean(m) != m:
			ch.fail(field, "%q is not a clean absolute path", m)
		case !moduleSuffix.MatchString(m):
			ch.fail(field, "%q is not a .ko file (optionally .xz, .zst or .gz)", m)
		case seen[m]:
			ch.fail(field, "%q is listed twice", m)
		}
		seen[m] = true
	}
}

func (c *Config) validateBoot(ch *checker) {
	b := c.Boot
	if b.Deadline.D() < MinDeadline || b.Deadline.D() > MaxDeadline {
		ch.fail("boot.deadline", "%s is outside %s..%s", b.Deadline, MinDeadline, MaxDeadline)
	}
	ch.oneOf("boot.on_failure", b.OnFailure, "poweroff", "reboot")
	if b.FailureDelay < 0 || b.FailureDelay.D() > MaxFailureDelay {
		ch.fail("boot.failure_delay", "%s is outside 0..%s", b.FailureDelay, MaxFailureDelay)
	}
	if !path.IsAbs(b.Init) || path.Clean(b.Init) != b.Init || strings.ContainsAny(b.Init, " \t\n\"\\") {
		ch.fail("boot.init", "%q is not a clean absolute path", b.Init)
	}
	if b.MinMemoryMiB < MinMinMemoryMiB || b.MinMemoryMiB > MaxMinMemoryMiB {
		ch.fail("boot.min_memory_mib", "%d is outside %d..%d", b.MinMemoryMiB, MinMinMemoryMiB, MaxMinMemoryMiB)
	}
	if b.DebugShellAfterFailure && !c.Debug {
		ch.fail("boot.debug_shell_after_failure", "only a debug image may offer a shell")
	}
}
