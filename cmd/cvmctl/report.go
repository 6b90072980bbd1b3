package main

import (
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

const reportUsage = `usage: cvmctl report verify (--report RAW [--vcek CERT | --vlek CERT] | --evidence TRUSTEE_JSON)
                           [--product Milan|Genoa|Turin] [--at RFC3339] [--policy FILE] [--json]

Verifies an SNP attestation report offline: signature, certificate chain to
AMD's roots, and the default policy (no DEBUG, no migration agent, VMPL 0,
report version >= 2; measurement and revocation not checked). --policy
applies a key broker policy file instead (its crls: are AMD CRLs on disk).
Exit status: 0 valid, 1 invalid, 2 usage.

flags:`

// reportArgs are the flags of cvmctl report verify.
type reportArgs struct {
	report, vcek, vlek, evidence string
	product, at, policy          string
	json                         bool
}

func newReportFlags(a *reportArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl report verify", flag.ContinueOnError)
	fs.StringVar(&a.report, "report", "", "raw 0x4A0-byte attestation report")
	fs.StringVar(&a.vcek, "vcek", "", "VCEK certificate that signed --report (DER or PEM)")
	fs.StringVar(&a.vlek, "vlek", "", "VLEK certificate that signed --report (DER or PEM)")
	fs.StringVar(&a.evidence, "evidence", "", "Trustee SNP evidence JSON (report and cert_chain)")
	fs.StringVar(&a.product, "product", "", "expected product line: Milan, Genoa or Turin")
	fs.StringVar(&a.at, "at", "", "verify certificates as of this RFC 3339 time (default now)")
	fs.StringVar(&a.policy, "policy", "", "key broker policy YAML to apply instead of the default")
	fs.BoolVar(&a.json, "json", false, "print the result as JSON")
	return fs
}

// runReport implements cvmctl report; args start after "report".
func runReport(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stderr, reportUsage)
			newReportFlags(&reportArgs{}).PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "cvmctl report: want the sub-command verify (cvmctl report verify --help)")
		return 2
	}
	a := &reportArgs{}
	done, err := parseFlags(newReportFlags(a), args[1:], reportUsage, stderr)
	if done || err != nil {
		return reportFail(stderr, err)
	}
	return a.verify(stdout, stderr)
}

// verify checks the evidence and prints the outcome.
func (a *reportArgs) verify(stdout, stderr io.Writer) int {
	o, err := a.options()
	if err != nil {
		return reportFail(stderr, err)
	}
	v, err := a.verifier(stderr)
	if err != nil {
		return reportFail(stderr, err)
	}
	ev, err := a.load()
	if err != nil && evidence.Reason(err) == "internal_error" {
		return reportFail(stderr, err) // could not read the input at all
	}
	var res *evidence.Result
	if err == nil {
		res, err = v.Check(ev, o)
	}
	if perr := a.print(stdout, res, err); perr != nil {
		return reportFail(stderr, perr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "cvmctl report verify: invalid: %s: %s\n", evidence.Reason(err), oneLine(err))
		return 1
	}
	return 0
}

// options validates the flag combination and builds the check options.
func (a *reportArgs) options() (evidence.Options, error) {
	var o evidence.Options
	switch {
	case a.report == "" && a.evidence == "":
		return o, usagef("need --report RAW (with --vcek or --vlek) or --evidence JSON")
	case a.report != "" && a.evidence != "":
		return o, usagef("--report and --evidence are exclusive")
	case a.evidence != "" && (a.vcek != "" || a.vlek != ""):
		return o, usagef("--vcek/--vlek go with --report; --evidence carries its own certificates")
	case a.report != "" && (a.vcek == "") == (a.vlek == ""):
		return o, usagef("--report needs exactly one of --vcek or --vlek (no network: the certificate is not fetched)")
	}
	if a.product != "" && a.product != "Milan" && a.product != "Genoa" && a.product != "Turin" {
		return o, usagef("--product %q: want Milan, Genoa or Turin", a.product)
	}
	o.Product = a.product
	if a.at != "" {
		t, err := time.Parse(time.RFC3339, a.at)
		if err != nil {
			return o, usagef("--at %q: want an RFC 3339 time such as 2025-06-01T00:00:00Z", a.at)
		}
		o.Now = t
	}
	return o, nil
}

// verifier builds the verifier from --policy, or AMD roots and the default
// policy without a measurement or revocation check (no CRL at hand).
func (a *reportArgs) verifier(stderr io.Writer) (*evidence.Verifier, error) {
	p := evidence.DefaultPolicy()
	p.InsecureSkipRevocation = true
	if a.policy != "" {
		data, err := os.ReadFile(a.policy)
		if err != nil {
			return nil, fmt.Errorf("reading policy: %w", err)
		}
		parsed, err := evidence.ParsePolicy(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.policy, err)
		}
		parsed.ResolvePaths(filepath.Dir(a.policy))
		p = *parsed
	}
	return evidence.NewVerifier(&p, slog.New(slog.NewTextHandler(stderr, nil)))
}

// load reads the report and its certificate.
func (a *reportArgs) load() (evidence.Evidence, error) {
	if a.evidence != "" {
		return loadTrusteeEvidence(a.evidence)
	}
	raw, err := os.ReadFile(a.report)
	if err != nil {
		return evidence.Evidence{}, fmt.Errorf("reading report: %w", err)
	}
	kind, path := "VCEK", a.vcek
	if a.vlek != "" {
		kind, path = "VLEK", a.vlek
	}
	der, err := readCertificate(path)
	if err != nil {
		return evidence.Evidence{}, err
	}
	return evidence.Evidence{Report: raw, Certs: []evidence.Cert{{Type: kind, DER: der}}}, nil
}

// loadTrusteeEvidence decodes Trustee's SNP evidence JSON with agent/kbs,
// the same decoder the guest agent's wire format uses.
func loadTrusteeEvidence(path string) (evidence.Evidence, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return evidence.Evidence{}, fmt.Errorf("reading evidence: %w", err)
	}
	raw, certs, err := kbs.DecodeSNPEvidence(data)
	if err != nil {
		return evidence.Evidence{}, fmt.Errorf("%w: %s: %w", evidence.ErrMalformed, path, err)
	}
	ev := evidence.Evidence{Report: raw}
	for _, c := range certs {
		ev.Certs = append(ev.Certs, evidence.Cert{Type: c.Type, DER: c.DER})
	}
	return ev, nil
}

// readCertificate accepts one certificate as DER or as a single PEM block.
func readCertificate(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return data, nil
	}
	if block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: %s: want exactly one PEM CERTIFICATE block", evidence.ErrCertificate, path)
	}
	return block.Bytes, nil
}

// reportJSON is the --json output.
type reportJSON struct {
	Valid  bool             `json:"valid"`
	Reason string           `json:"reason,omitempty"`
	Error  string           `json:"error,omitempty"`
	Result *evidence.Result `json:"result"`
}

// print writes the result (when the report was authentic) to stdout.
func (a *reportArgs) print(stdout io.Writer, res *evidence.Result, checkErr error) error {
	if a.json {
		out := reportJSON{Valid: checkErr == nil, Reason: evidence.Reason(checkErr), Result: res}
		if checkErr != nil {
			out.Error = oneLine(checkErr)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if res == nil {
		return nil
	}
	return res.WriteText(stdout)
}

func reportFail(stderr io.Writer, err error) int {
	return exitWith(stderr, "cvmctl report verify", err)
}
