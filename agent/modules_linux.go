package agent

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/u-root/u-root/pkg/kmodule"
)

// kmodLoader loads module files with u-root's kmodule: finit_module for a
// plain .ko, init_module on the decompressed image otherwise.
type kmodLoader struct{}

func (kmodLoader) Load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.HasSuffix(path, ".ko") {
		err = kmodule.FileInit(f, "", 0)
	} else {
		err = initCompressed(f)
	}
	if err != nil && !isExist(err) {
		return fmt.Errorf("init_module %s: %w", path, err)
	}
	return nil
}

func initCompressed(f *os.File) error {
	r, err := kmodule.CompressionReader(f)
	if err != nil {
		return err
	}
	image, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decompressing: %w", err)
	}
	return kmodule.Init(image, "")
}
