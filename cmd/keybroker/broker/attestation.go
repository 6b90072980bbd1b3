package broker

import (
	"encoding/json"
	"net/http"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// attestation is a decoded /attest body. The evidence in its tee-evidence
// is decoded with it when the body is in the canonical form clients write
// (kbs.ParseSNPAttestation, one pass), and otherwise only when check asks
// for it, after the nonce and key checks, as the general decoding always did.
type attestation struct {
	kbs.Attestation
	decoded bool // report and certs hold the decoded evidence
	report  []byte
	certs   []kbs.Cert
}

// decodeAttestation reads and decodes r's body, refusing unknown members.
func decodeAttestation(r *http.Request) (*attestation, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if att, report, certs, ok := kbs.ParseSNPAttestation(body); ok {
		return &attestation{Attestation: *att, decoded: true, report: report, certs: certs}, nil
	}
	a := &attestation{}
	if err := decodeStrictBytes(body, &a.Attestation); err != nil {
		return nil, err
	}
	return a, nil
}

// evidence returns the SNP evidence of the body's tee-evidence.
func (a *attestation) evidence() (evidence.Evidence, error) {
	if !a.decoded {
		var comp kbs.CompositeEvidence
		if err := json.Unmarshal(a.TeeEvidence, &comp); err != nil {
			return evidence.Evidence{}, err
		}
		report, certs, err := kbs.DecodeSNPEvidence(comp.PrimaryEvidence)
		if err != nil {
			return evidence.Evidence{}, err
		}
		a.decoded, a.report, a.certs = true, report, certs
	}
	ev := evidence.Evidence{Report: a.report, Certs: make([]evidence.Cert, 0, len(a.certs))}
	for _, c := range a.certs {
		ev.Certs = append(ev.Certs, evidence.Cert{Type: c.Type, DER: c.DER})
	}
	return ev, nil
}
