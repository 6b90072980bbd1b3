package seal

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// benchSize is the rootfs of BenchmarkSeal1GiB: one file of 1 GiB.
const benchSize = 1 << 30

// writeBlocks writes size bytes (a multiple of 1 MiB) of one repeated
// 1 MiB random block to path: incompressible enough, and fast to make.
func writeBlocks(b *testing.B, path string, size int64) {
	b.Helper()
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for n := int64(0); n < size; n += int64(len(block)) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal1GiB compares sealing a 1 GiB rootfs (input scan, mkfs,
// verity format and verify, LUKS2 encryption, guard and key checks, sync)
// with `cryptsetup reencrypt --encrypt` alone on a 1 GiB plain file, with
// the same parameters, in the same run. It reports both throughputs and
// seal's time as a multiple of encryption alone.
func BenchmarkSeal1GiB(b *testing.B) {
	needTools(b)
	dir := b.TempDir()
	tree := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(tree, 0o755); err != nil {
		b.Fatal(err)
	}
	writeBlocks(b, filepath.Join(tree, "blob"), benchSize)
	key, err := newKey()
	if err != nil {
		b.Fatal(err)
	}
	defer key.Wipe()
	keyFile, done, err := writeKeyFile(dir, key)
	if err != nil {
		b.Fatal(err)
	}
	defer done()
	var sealTime, encTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, "out"+strconv.Itoa(i))
		must(b, os.Mkdir(out, 0o755))
		start := time.Now()
		if _, err := Seal(context.Background(), Options{Input: tree, Output: filepath.Join(out, "img"),
			Payload: filepath.Join(out, "p")}); err != nil {
			b.Fatal(err)
		}
		sealTime += time.Since(start)
		must(b, os.RemoveAll(out))

		plain := filepath.Join(dir, "plain")
		writeBlocks(b, plain, benchSize) // encrypt grows it by the header room
		start = time.Now()
		if err := encrypt(context.Background(), toolPath(b, toolCryptsetup), plain, keyFile, uuid.NewString(), nil); err != nil {
			b.Fatal(err)
		}
		encTime += time.Since(start)
		must(b, os.Remove(plain))
	}
	mb := float64(b.N) * benchSize / 1e6
	b.ReportMetric(mb/sealTime.Seconds(), "seal-MB/s")
	b.ReportMetric(mb/encTime.Seconds(), "reencrypt-MB/s")
	b.ReportMetric(sealTime.Seconds()/encTime.Seconds(), "seal/reencrypt")
}
