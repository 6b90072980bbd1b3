package agent

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/agent/snp"
)

// MaxKeySize bounds the disk key (a LUKS passphrase) the broker may release.
const MaxKeySize = disk.MaxPayloadKey

// stepKey starts looking for the root disk in the background (startScout),
// runs the KBS protocol with fresh evidence and keeps the released disk
// key, the identity of the disk it was sealed for and its dm-verity
// description in State. A payload that disk.integrity and
// disk.verity_root_hash refuse is ErrIntegrity (INTEGRITY_FAILED), its key
// wiped before it is used on any disk. The released secret must be a
// disk.Payload; anything else (a raw key included) is refused as
// ErrKeyInvalid (BROKER_PROTOCOL): there is no fallback to an unpinned
// key. The broker's TLS identity is the CA pinned in the measured config;
// there is no fallback to system roots.
func stepKey(ctx context.Context, s *State) error {
	startScout(ctx, s)
	b := s.Config.Broker
	client, err := brokerClient(s)
	if err != nil {
		return err
	}
	kctx, cancel := context.WithTimeout(ctx, b.Timeout.D())
	defer cancel()
	raw, err := client.GetResource(kctx, &evidence{s: s}, b.Resource)
	if err != nil {
		return err
	}
	p, err := disk.ParsePayload(raw.Bytes())
	raw.Wipe()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	if err := checkIntegrity(s, p.Verity); err != nil {
		p.Key.Wipe()
		return err
	}
	s.DiskUUID, s.DiskIdentity, s.Verity = p.LUKSUUID, p.HeaderSHA256, p.Verity
	return keepKey(s, p.Key)
}

// checkIntegrity holds the payload's dm-verity description against the
// measured config: anything but disk.integrity "none" requires one, and a
// pinned disk.verity_root_hash must be its root hash. A description under
// "none" is used all the same: integrity is never dropped.
func checkIntegrity(s *State, v *disk.Verity) error {
	d := s.Config.Disk
	switch {
	case v == nil && d.Integrity != config.IntegrityNone:
		return fmt.Errorf("%w: the released payload describes no dm-verity tree (disk.integrity is %q)",
			ErrIntegrity, d.Integrity)
	case v != nil && d.VerityRootHash != "" && v.RootHash != d.VerityRootHash:
		return fmt.Errorf("%w: the payload's root hash %s is not disk.verity_root_hash %s",
			ErrIntegrity, v.RootHash, d.VerityRootHash)
	case v != nil && d.Integrity == config.IntegrityNone:
		s.log.Warn("disk.integrity is none, but the payload describes a dm-verity tree: using it",
			"root_hash", v.RootHash)
	}
	return nil
}

// brokerClient returns the key broker client, making it on first use.
func brokerClient(s *State) (KeyFetcher, error) {
	if s.broker != nil {
		return s.broker, nil
	}
	b := s.Config.Broker
	o := kbs.Options{URL: b.URL, AllowHTTP: b.InsecureHTTP, Attempts: b.Attempts, Logger: s.log}
	if b.CAPEM != "" {
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM([]byte(b.CAPEM)) {
			return nil, fmt.Errorf("broker.ca_pem holds no certificate")
		}
	}
	client, err := s.sys.Brokers.Client(o)
	if err != nil {
		return nil, fmt.Errorf("key broker client: %w", err)
	}
	s.broker = client
	return client, nil
}

func keepKey(s *State, key *secret.Buffer) error {
	if n := key.Len(); n == 0 || n > MaxKeySize {
		key.Wipe()
		return fmt.Errorf("%w: %d bytes (want 1..%d)", ErrKeyInvalid, n, MaxKeySize)
	}
	if !s.SetKey(key) {
		return fmt.Errorf("%w: key arrived after secrets were wiped", ErrKeyInvalid)
	}
	s.log.Info("disk key released", "bytes", key.Len(), "luks_uuid", s.DiskUUID, "header_sha256", s.DiskIdentity,
		"verity", s.Verity != nil)
	return nil
}

// evidence adapts the SNP provider to kbs.Reporter, checking each report
// before it leaves the guest and remembering the last one.
type evidence struct{ s *State }

func (e *evidence) GetEvidence(ctx context.Context, rd [64]byte) ([]byte, []byte, error) {
	ev, err := e.s.Provider.GetReport(ctx, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	if err := snp.CheckOwn(ev.Report, rd); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrAttestation, err)
	}
	e.s.Report = ev.Report
	return ev.Report, ev.CertTable, nil
}
