package kbs

// ParseSNPAttestation decodes an attestation request body together with the
// SNP evidence its tee-evidence carries, in one pass, when the body is in the
// canonical form clients write (see fastjson.go): init-data null or absent,
// tee-evidence holding primary_evidence and optionally additional_evidence,
// every member spelt exactly and present at most once, and every member the
// types need present (optional ones: init-data, additional_evidence, JWK
// members, cert_chain, the mitigation vectors). ok is false for any other
// body, valid or not: decode that with encoding/json (unknown members
// refused), then its tee-evidence as a CompositeEvidence and the primary
// evidence with DecodeSNPEvidence, which accept and refuse as always. When
// ok is true those steps would have succeeded with the same values.
// att.TeeEvidence shares body's memory (its capacity ends with it).
func ParseSNPAttestation(body []byte) (att *Attestation, report []byte, certs []Cert, ok bool) {
	s := &scanner{b: body}
	att, ev := s.attestation()
	if !s.end() {
		return nil, nil, nil, false
	}
	if ev == nil || ev.AttestationReport == nil {
		return nil, nil, nil, false
	}
	report, certs, err := ev.lower()
	if err != nil {
		return nil, nil, nil, false
	}
	return att, report, certs, true
}

// decodeEvidenceFast is decodeEvidenceJSON for canonical input.
func decodeEvidenceFast(data []byte) (*snpEvidenceJSON, bool) {
	s := &scanner{b: data}
	ev := s.evidence()
	return ev, s.end()
}

func (s *scanner) attestation() (*Attestation, *snpEvidenceJSON) {
	att := &Attestation{}
	var ev *snpEvidenceJSON
	s.object(0b110, func(key []byte) int {
		switch string(key) {
		case "init-data":
			if !s.null() {
				s.off = true
			}
			return 0
		case "runtime-data":
			att.RuntimeData = s.runtimeData()
			return 1
		case "tee-evidence":
			s.next()
			start := s.i
			ev = s.teeEvidence()
			att.TeeEvidence = s.b[start:s.i:s.i]
			return 2
		}
		return -1
	})
	return att, ev
}

func (s *scanner) runtimeData() (rd RuntimeData) {
	s.object(0b11, func(key []byte) int {
		switch string(key) {
		case "nonce":
			rd.Nonce = s.str()
			return 0
		case "tee-pubkey":
			rd.TeePubKey = s.jwk()
			return 1
		}
		return -1
	})
	return rd
}

func (s *scanner) jwk() (k JWK) {
	s.object(0, func(key []byte) int {
		var v *string
		bit := 0
		switch string(key) {
		case "kty":
			v, bit = &k.Kty, 0
		case "crv":
			v, bit = &k.Crv, 1
		case "alg":
			v, bit = &k.Alg, 2
		case "x":
			v, bit = &k.X, 3
		case "y":
			v, bit = &k.Y, 4
		case "n":
			v, bit = &k.N, 5
		case "e":
			v, bit = &k.E, 6
		default:
			return -1
		}
		*v = s.str()
		return bit
	})
	return k
}

func (s *scanner) teeEvidence() *snpEvidenceJSON {
	var ev *snpEvidenceJSON
	s.object(0b1, func(key []byte) int {
		switch string(key) {
		case "primary_evidence":
			ev = s.evidence()
			return 0
		case "additional_evidence":
			s.raw()
			return 1
		}
		return -1
	})
	return ev
}

func (s *scanner) evidence() *snpEvidenceJSON {
	ev := &snpEvidenceJSON{}
	s.object(0b1, func(key []byte) int {
		switch string(key) {
		case "attestation_report":
			ev.AttestationReport = s.report()
			return 0
		case "cert_chain":
			ev.CertChain = s.certChain()
			return 1
		}
		return -1
	})
	return ev
}

func (s *scanner) certChain() []certJSON {
	s.want('[')
	out := []certJSON{}
	if s.try(']') {
		return out
	}
	for !s.off {
		var c certJSON
		s.object(0b11, func(key []byte) int {
			switch string(key) {
			case "cert_type":
				c.CertType = s.str()
				return 0
			case "data":
				c.Data = s.octets()
				return 1
			}
			return -1
		})
		out = append(out, c)
		if !s.try(',') {
			s.want(']')
			break
		}
	}
	return out
}

// reportReaders read each member of a report: first those of
// requiredReportKeys in its order, then the optional mitigation vectors.
var reportReaders = []struct {
	name string
	read func(*scanner, *reportJSON)
}{
	{"version", func(s *scanner, r *reportJSON) { r.Version = s.u32() }},
	{"guest_svn", func(s *scanner, r *reportJSON) { r.GuestSVN = s.u32() }},
	{"policy", func(s *scanner, r *reportJSON) { r.Policy = s.u64() }},
	{"family_id", func(s *scanner, r *reportJSON) { r.FamilyID = s.octets() }},
	{"image_id", func(s *scanner, r *reportJSON) { r.ImageID = s.octets() }},
	{"vmpl", func(s *scanner, r *reportJSON) { r.VMPL = s.u32() }},
	{"sig_algo", func(s *scanner, r *reportJSON) { r.SigAlgo = s.u32() }},
	{"current_tcb", func(s *scanner, r *reportJSON) { r.CurrentTCB = s.tcb() }},
	{"plat_info", func(s *scanner, r *reportJSON) { r.PlatInfo = s.u64() }},
	{"key_info", func(s *scanner, r *reportJSON) { r.KeyInfo = s.u32() }},
	{"report_data", func(s *scanner, r *reportJSON) { r.ReportData = s.octets() }},
	{"measurement", func(s *scanner, r *reportJSON) { r.Measurement = s.octets() }},
	{"host_data", func(s *scanner, r *reportJSON) { r.HostData = s.octets() }},
	{"id_key_digest", func(s *scanner, r *reportJSON) { r.IDKeyDigest = s.octets() }},
	{"author_key_digest", func(s *scanner, r *reportJSON) { r.AuthorKeyDigest = s.octets() }},
	{"report_id", func(s *scanner, r *reportJSON) { r.ReportID = s.octets() }},
	{"report_id_ma", func(s *scanner, r *reportJSON) { r.ReportIDMA = s.octets() }},
	{"reported_tcb", func(s *scanner, r *reportJSON) { r.ReportedTCB = s.tcb() }},
	{"cpuid_fam_id", func(s *scanner, r *reportJSON) { r.CPUIDFamID = s.optU8() }},
	{"cpuid_mod_id", func(s *scanner, r *reportJSON) { r.CPUIDModID = s.optU8() }},
	{"cpuid_step", func(s *scanner, r *reportJSON) { r.CPUIDStep = s.optU8() }},
	{"chip_id", func(s *scanner, r *reportJSON) { r.ChipID = s.octets() }},
	{"committed_tcb", func(s *scanner, r *reportJSON) { r.CommittedTCB = s.tcb() }},
	{"current", func(s *scanner, r *reportJSON) { r.Current = s.version() }},
	{"committed", func(s *scanner, r *reportJSON) { r.Committed = s.version() }},
	{"launch_tcb", func(s *scanner, r *reportJSON) { r.LaunchTCB = s.tcb() }},
	{"signature", func(s *scanner, r *reportJSON) { r.Signature = s.signature() }},
	{"launch_mit_vector", func(s *scanner, r *reportJSON) { r.LaunchMitVector = s.optU64() }},
	{"current_mit_vector", func(s *scanner, r *reportJSON) { r.CurrentMitVector = s.optU64() }},
}

func (s *scanner) report() *reportJSON {
	r := &reportJSON{}
	required := uint64(1)<<len(requiredReportKeys) - 1
	s.object(required, func(key []byte) int {
		for i, m := range reportReaders {
			if string(key) == m.name {
				m.read(s, r)
				return i
			}
		}
		return -1
	})
	return r
}

func (s *scanner) tcb() (t tcbJSON) {
	s.object(0b11111, func(key []byte) int {
		switch string(key) {
		case "fmc":
			t.FMC = s.optU8()
			return 0
		case "bootloader":
			t.Bootloader = s.u8()
			return 1
		case "tee":
			t.TEE = s.u8()
			return 2
		case "snp":
			t.SNP = s.u8()
			return 3
		case "microcode":
			t.Microcode = s.u8()
			return 4
		}
		return -1
	})
	return t
}

func (s *scanner) version() (v versionJSON) {
	s.object(0b111, func(key []byte) int {
		switch string(key) {
		case "major":
			v.Major = s.u8()
			return 0
		case "minor":
			v.Minor = s.u8()
			return 1
		case "build":
			v.Build = s.u8()
			return 2
		}
		return -1
	})
	return v
}

func (s *scanner) signature() (sig sigJSON) {
	s.object(0b11, func(key []byte) int {
		switch string(key) {
		case "r":
			sig.R = s.octets()
			return 0
		case "s":
			sig.S = s.octets()
			return 1
		}
		return -1
	})
	return sig
}
