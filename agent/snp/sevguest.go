package snp

import (
	"context"
	"fmt"
	"path/filepath"
)

// ExtendedReporter is the /dev/sev-guest seam: one SNP_GET_EXT_REPORT request.
type ExtendedReporter interface {
	ExtendedReport(reportData [64]byte, vmpl uint32) (report, certTable []byte, err error)
}

// SevGuest gets extended reports (report plus certificate table) from the
// sev-guest driver's ioctl interface, for kernels without configfs-tsm.
type SevGuest struct {
	Dev ExtendedReporter
}

func (s *SevGuest) String() string { return NameSevGuest }

func openSevGuest(opts Options) (Provider, error) {
	if opts.SevGuest != nil {
		return &SevGuest{Dev: opts.SevGuest}, nil
	}
	dev, err := deviceReporter(filepath.Join(opts.devRoot(), "sev-guest"))
	if err != nil {
		return nil, fmt.Errorf("opening /dev/sev-guest: %w", err)
	}
	return &SevGuest{Dev: dev}, nil
}

// GetReport requests an extended report at VMPL 0 binding reportData.
func (s *SevGuest) GetReport(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sev-guest report: %w", err)
	}
	report, certs, err := s.Dev.ExtendedReport(reportData, 0)
	if err != nil {
		return nil, fmt.Errorf("sev-guest extended report: %w", err)
	}
	ev := &Evidence{Report: report, CertTable: normalizeCertTable(certs)}
	if err := checkEvidence(ev, reportData, 0); err != nil {
		return nil, fmt.Errorf("checking the sev-guest report: %w", err)
	}
	return ev, nil
}
