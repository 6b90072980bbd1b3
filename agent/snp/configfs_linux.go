//go:build linux

package snp

import (
	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
)

// kernelTSM returns the kernel's configfs-tsm, failing when it is absent.
func kernelTSM() (configfsi.Client, error) { return linuxtsm.MakeClient() }
