package seal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tools are the paths of the external tools; an empty field is looked up.
type Tools struct {
	MkfsExt4    string // e2fsprogs
	Debugfs     string // e2fsprogs (ownership of a tar extracted without root)
	MkfsErofs   string // erofs-utils
	Veritysetup string // cryptsetup-bin
	Cryptsetup  string // cryptsetup-bin
	QemuImg     string // qemu-utils
}

// tool names one external program and the Debian package that has it.
type tool struct{ name, pkg string }

var (
	toolMkfsExt4    = tool{"mkfs.ext4", "e2fsprogs"}
	toolDebugfs     = tool{"debugfs", "e2fsprogs"}
	toolMkfsErofs   = tool{"mkfs.erofs", "erofs-utils"}
	toolVeritysetup = tool{"veritysetup", "cryptsetup-bin"}
	toolCryptsetup  = tool{"cryptsetup", "cryptsetup-bin"}
	toolQemuImg     = tool{"qemu-img", "qemu-utils"}
)

// LookTool finds the named program in PATH, then in /usr/sbin and /sbin
// (Debian keeps mkfs and cryptsetup there, outside a normal user's PATH).
// A missing program wraps ErrMissingTool and names the Debian package.
func LookTool(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s (install the Debian package %s)", ErrMissingTool, name, pkg)
}

// needed pairs a Tools field with the tool it holds.
type needed struct {
	path *string
	t    tool
}

// resolve fills the tools o needs, refusing any that is missing.
func (o *Options) resolve(asRoot bool) error {
	t := &o.Tools
	need := []needed{{&t.Veritysetup, toolVeritysetup}, {&t.Cryptsetup, toolCryptsetup}}
	switch {
	case o.FSImage != "": // sealed as it is: no mkfs
	case o.FS == FSErofs:
		need = append(need, needed{&t.MkfsErofs, toolMkfsErofs})
	case asRoot && !o.noChown:
		need = append(need, needed{&t.MkfsExt4, toolMkfsExt4})
	default:
		need = append(need, needed{&t.MkfsExt4, toolMkfsExt4}, needed{&t.Debugfs, toolDebugfs})
	}
	if o.Format == FormatQCOW2 {
		need = append(need, needed{&t.QemuImg, toolQemuImg})
	}
	var errs []error
	for _, n := range need {
		if *n.path != "" {
			continue
		}
		p, err := LookTool(n.t.name, n.t.pkg)
		*n.path, errs = p, append(errs, err)
	}
	return errors.Join(errs...)
}

// maxStderr bounds what is kept of a tool's stderr for error messages.
const maxStderr = 4096

// run runs a tool with ctx and returns its stdout. If onLine is set, stdout
// is streamed to it line by line instead. A failure's error holds the tool's
// name and the end of its stderr, never its arguments: callers pass no
// secrets on argv anyway, and paths make messages long.
func run(ctx context.Context, path string, onLine func(string), args ...string) ([]byte, error) {
	return runWith(ctx, "", path, onLine, &tailBuffer{max: maxStderr}, args...)
}

// runWith is run in directory dir ("" for the current one) with the
// caller's stderr buffer.
func runWith(ctx context.Context, dir, path string, onLine func(string), stderr *tailBuffer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env, cmd.Dir = append(os.Environ(), "LC_ALL=C"), dir
	var stdout bytes.Buffer
	cmd.Stderr = stderr
	var pipe io.ReadCloser
	var err error
	if onLine == nil {
		cmd.Stdout = &stdout
	} else if pipe, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, toolError(ctx, path, err, "")
	}
	if pipe != nil {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			onLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pipe)
	}
	if err := cmd.Wait(); err != nil {
		return nil, toolError(ctx, path, err, stderr.text())
	}
	return stdout.Bytes(), nil
}

// toolError names the tool and, for a failure that is not an interruption,
// what it said.
func toolError(ctx context.Context, path string, err error, said string) error {
	name := filepath.Base(path)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w (%w)", name, ErrInterrupted, ctx.Err())
	case said == "":
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s: %w: %s", name, err, said)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// text is the kept stderr on one line.
func (t *tailBuffer) text() string {
	var lines []string
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "no message"
	}
	return strings.Join(lines, "; ")
}

// version returns the first line a tool prints for flag (stdout or stderr).
func version(ctx context.Context, path string, flag string) string {
	out, err := exec.CommandContext(ctx, path, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" && err != nil {
		return "unknown"
	}
	return strings.TrimSpace(line)
}
