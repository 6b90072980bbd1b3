//go:build !unix

package store

import (
	"errors"
	"os"
)

// lockFile is unsupported without flock(2): writers could not serialize.
func lockFile(*os.File) error { return errors.New("store locking is unsupported on this system") }

func openNoFollow(name string) (*os.File, error) { return os.Open(name) }
