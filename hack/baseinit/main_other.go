//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "baseinit: Linux only")
	os.Exit(2)
}
