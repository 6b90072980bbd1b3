package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/cvminit/cvminit/initramfs"
)

// readDebugTools reads every regular file of dir (symbolic links followed,
// sub-directories skipped) as DebugToolsDir/NAME with mode 0755, sorted by
// name. Only contents and names reach the image, so the directory's file
// modes and times cannot change its bytes. Each tool must be a static
// x86-64 executable: the initramfs has no dynamic loader. dir "" means no
// tools.
func readDebugTools(dir string) ([]initramfs.File, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir) // sorted by file name
	if err != nil {
		return nil, fmt.Errorf("reading debug tools: %w", err)
	}
	var tools []initramfs.File
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading debug tools: %w", err)
		}
		if fi.IsDir() {
			continue
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("debug tool %s: not a regular file (%v)", p, fi.Mode().Type())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading debug tools: %w", err)
		}
		if err := initramfs.CheckInit(b); err != nil {
			return nil, fmt.Errorf("debug tool %s: %w", p, err)
		}
		tools = append(tools, initramfs.File{Path: path.Join(initramfs.DebugToolsDir, e.Name()), Data: b, Mode: 0o755})
	}
	if len(tools) == 0 {
		return nil, fmt.Errorf("debug tools: no regular files in %s", dir)
	}
	return tools, nil
}
