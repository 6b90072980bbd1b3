//go:build tools

// Package tools pins modules the project depends on but does not import yet
// (go-tpm for the vTPM step), so `go mod tidy` keeps them at the reviewed versions.
package tools

import (
	_ "github.com/anatol/luks.go"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/google/go-configfs-tsm/report"
	_ "github.com/google/go-sev-guest/abi"
	_ "github.com/google/go-sev-guest/client"
	_ "github.com/google/go-sev-guest/testing"
	_ "github.com/google/go-sev-guest/validate"
	_ "github.com/google/go-sev-guest/verify"
	_ "github.com/google/go-tpm/tpm2"
	_ "github.com/u-root/u-root/pkg/cpio"
	_ "github.com/u-root/u-root/pkg/kmodule"
	_ "github.com/u-root/u-root/pkg/mount"
	_ "sigs.k8s.io/yaml"
)
