package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError marks bad command-line input (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// parseFlags parses args quietly. On -h it prints usage and the flag defaults
// to stderr and returns done=true; flag errors and stray arguments become
// usage errors.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (done bool, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return true, nil
		}
		return false, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return false, usagef("unexpected argument %q", fs.Arg(0))
	}
	return false, nil
}

// parseInterspersed is parseFlags for commands whose positional
// arguments may come before, between or after the flags: it returns them
// in order.
func parseInterspersed(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (pos []string, done bool, err error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				done, err = parseFlags(fs, []string{"-h"}, usage, stderr)
				return nil, done, err
			}
			return nil, false, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, false, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// exitWith prints err as one line prefixed by name and returns the exit
// status: 0 without an error, 2 for usage errors, 1 otherwise.
func exitWith(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err))
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// oneLine keeps a (possibly joined) error on one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
