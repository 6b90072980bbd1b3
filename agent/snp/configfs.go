package snp

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/report"
)

// tsmProviderSNP is what configfs-tsm's provider attribute says on SEV-SNP.
const tsmProviderSNP = "sev_guest"

// configfsAttempts bounds retries when another writer races us (generation mismatch).
const configfsAttempts = 3

// ErrWrongTSM means configfs-tsm is backed by something other than SEV-SNP.
var ErrWrongTSM = errors.New("configfs-tsm provider is not sev_guest")

// Configfs gets reports through /sys/kernel/config/tsm/report (Linux ≥ 6.7) at
// privilege level 0, reading outblob (the report) and auxblob (the certificate
// table).
type Configfs struct {
	Client configfsi.Client
}

func (c *Configfs) String() string { return NameConfigfs }

func openConfigfs(opts Options) (Provider, error) {
	if opts.TSM != nil {
		return &Configfs{Client: opts.TSM}, nil
	}
	client, err := kernelTSM()
	if err != nil {
		return nil, fmt.Errorf("opening configfs-tsm: %w", err)
	}
	return &Configfs{Client: client}, nil
}

// GetReport requests a report binding reportData.
func (c *Configfs) GetReport(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	var resp *report.Response
	var err error
	for range configfsAttempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("configfs-tsm report: %w", err)
		}
		resp, err = report.Get(c.Client, &report.Request{
			InBlob:     reportData[:],
			Privilege:  &report.Privilege{Level: 0},
			GetAuxBlob: true,
		})
		if report.GetGenerationErr(err) == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("configfs-tsm report: %w", err)
	}
	if p := string(bytes.TrimSpace([]byte(resp.Provider))); p != tsmProviderSNP {
		return nil, fmt.Errorf("%w: %q", ErrWrongTSM, p)
	}
	ev := &Evidence{Report: resp.OutBlob, CertTable: normalizeCertTable(resp.AuxBlob)}
	if err := checkEvidence(ev, reportData, 0); err != nil {
		return nil, fmt.Errorf("checking the configfs-tsm report: %w", err)
	}
	return ev, nil
}
