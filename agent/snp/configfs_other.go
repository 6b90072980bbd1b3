//go:build !linux

package snp

import "github.com/google/go-configfs-tsm/configfs/configfsi"

func kernelTSM() (configfsi.Client, error) { return nil, ErrUnsupported }
