package main

import (
	"fmt"
	"io"

	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

func runInit(args []string, stdout io.Writer) error {
	fs := newFlags("init")
	state := fs.String("state", "", "state directory to create")
	product := fs.String("product", "Milan", "AMD product line: Milan, Genoa or Turin")
	force := fs.Bool("force", false, "replace an existing state")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *state == "" {
		return usagef("init: --state is required")
	}
	if err := emu.InitWith(*state, emu.InitOptions{Product: *product, Force: *force}); err != nil {
		return err
	}
	st, err := emu.Load(*state)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snpemu: %s chain in %s, CHIP_ID %x…, TCB %#016x\n",
		st.ProductLine, *state, st.ChipID[:8], uint64(st.TCB))
	return nil
}
