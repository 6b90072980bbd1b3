//go:build tools

// Package tools pins modules the project needs but no package of it imports,
// so that `go mod tidy` keeps them at the reviewed versions:
//   - go-tpm, for the vTPM step still to come;
//   - mvdan.cc/sh and x/term, which `make debug-tools` needs to build u-root's
//     gosh with the goshsmall tag (the packages below are what it imports).
package tools

import (
	_ "github.com/google/go-tpm/tpm2"
	_ "golang.org/x/term"
	_ "mvdan.cc/sh/v3/interp"
	_ "mvdan.cc/sh/v3/syntax"
)
