//go:build !linux

package snp

func deviceReporter(string) (ExtendedReporter, error) { return nil, ErrUnsupported }
