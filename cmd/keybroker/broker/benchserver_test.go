package broker_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// benchServerEnv, when set to a chain directory, makes the test binary a
// broker server for benchmarks (see startBenchServer) instead of running tests.
const benchServerEnv = "BROKER_BENCH_SERVER_CHAIN"

// benchServer is the child: a broker as `keybroker serve` runs it (TLS 1.3
// with a P-256 certificate, audit and service logs to files) on a loopback
// port. It prints "addr certificate" and serves until stdin closes.
func benchServer(chain string) int {
	chainDir = chain
	if err := serveBench(); err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	return 0
}

func serveBench() error {
	dir, err := os.MkdirTemp("", "bench-broker-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	if err := st.Add("default/disk/root", []byte("bench-secret-0123456789abcdef012"), []string{hex.EncodeToString(testMeasurement[:])}); err != nil {
		return err
	}
	p, err := broker.ParsePolicy([]byte(testPolicy()), "")
	if err != nil {
		return err
	}
	logs, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		return err
	}
	audit, err := os.Create(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		return err
	}
	b, err := broker.New(broker.Config{Policy: p, Store: st, Audit: audit, Rate: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		return err
	}
	cert, err := newServerCert()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", ln.Addr(), base64.StdEncoding.EncodeToString(cert.Certificate[0]))
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}))
	if prof := os.Getenv("BROKER_BENCH_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// benchServer is a running child broker.
type benchBroker struct {
	cmd   *exec.Cmd
	stdin io.Closer
	url   string
	roots *x509.CertPool
}

// startBenchServer starts the test binary as a broker in its own process,
// so that its CPU time can be told apart from the load generator's.
func startBenchServer(b *testing.B) *benchBroker {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+chainDir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	bb := &benchBroker{cmd: cmd, stdin: stdin}
	b.Cleanup(bb.stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, certB64, ok := strings.Cut(strings.TrimSpace(line), " ")
	der, derr := base64.StdEncoding.DecodeString(certB64)
	cert, cerr := x509.ParseCertificate(der)
	if err != nil || !ok || derr != nil || cerr != nil {
		b.Fatalf("bench server said %q (%v)", line, err)
	}
	bb.url, bb.roots = "https://"+addr, x509.NewCertPool()
	bb.roots.AddCert(cert)
	return bb
}

func (bb *benchBroker) stop() {
	bb.stdin.Close()
	bb.cmd.Wait()
}

// client returns a client with a connection pool of its own.
func (bb *benchBroker) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: bb.roots}}}
}

// cpu returns the CPU time (user + system) the broker process has used.
func (bb *benchBroker) cpu(b *testing.B) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", bb.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of proc(5), in clock ticks of 1/100 s on Linux.
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parsing %s", stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
