package broker_test

import (
	"bytes"
	"crypto/ecdh"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

// BenchmarkConcurrentHandshakes runs whole KBS handshakes from 1, 16 and 64
// concurrent clients against a broker in a process of its own. Reported per
// level: handshakes/s (wall clock, with the load generator on the same
// CPUs), the p99 latency a guest sees for the broker's answers, the broker's
// CPU time per handshake next to the CPU time of one raw go-sev-guest
// verify+validate of the same kind of report in the same run, and their
// ratio: broker handshakes per CPU-second over raw verifications per
// CPU-second (goal >= 0.7). CPU time, not wall time, is what compares fairly
// on a machine whose two cores also run the simulated guests.
//
// conn=fresh gives every guest a TLS connection of its own, as real guests
// have; conn=reused runs each client's guests over one connection, which
// shows the handshake without the TLS handshake's share.
//
// The guests' own work (key generation, the emulated PSP's signature,
// encoding) is done between two timed phases: phase 1 opens every session
// (/auth), phase 2 attests and fetches the resource. A guest's latency is
// its /auth time plus its /attest and /resource time.
func BenchmarkConcurrentHandshakes(b *testing.B) {
	for _, mode := range []string{"fresh", "reused"} {
		for _, clients := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("conn=%s/clients=%d", mode, clients), func(b *testing.B) {
				benchHandshakes(b, clients, mode == "reused")
			})
		}
	}
}

func benchHandshakes(b *testing.B, clients int, reuse bool) {
	bb := startBenchServer(b)
	srv := newEmulator(b, emu.Config{})
	raw, rawCPU := rawRateParallel(b, srv, clients)
	conns := make([]*http.Client, clients)
	for i := range conns {
		conns[i] = bb.client()
	}
	conn := func(worker int) *http.Client {
		if reuse {
			return conns[worker]
		}
		return bb.client()
	}
	guests := make([]*guest, b.N)
	b.ResetTimer()
	cpu0, start := bb.cpu(b), time.Now()
	parallel(clients, b.N, func(w, i int) { guests[i] = openGuest(b, bb, conn(w)) })
	elapsed := time.Since(start)
	for _, g := range guests {
		g.prepare(b, srv)
	}
	start = time.Now()
	parallel(clients, b.N, func(w, i int) { guests[i].finish(b, bb, !reuse) })
	elapsed += time.Since(start)
	b.StopTimer()
	cpu := (bb.cpu(b) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "handshakes/s")
	b.ReportMetric(raw, "raw-verify/s")
	b.ReportMetric(p99(guests).Seconds()*1000, "p99-ms")
	b.ReportMetric(cpu.Seconds()*1000, "broker-cpu-ms")
	b.ReportMetric(rawCPU.Seconds()*1000, "raw-cpu-ms")
	b.ReportMetric(rawCPU.Seconds()/cpu.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op") // wall time per op mixes in the guests' work: not a figure of the broker
}

// guest is one simulated guest: its connection, session and timings.
type guest struct {
	client        *http.Client
	cookie, nonce string
	priv          *ecdh.PrivateKey
	body          []byte
	latency       time.Duration
}

func openGuest(b *testing.B, bb *benchBroker, c *http.Client) *guest {
	g := &guest{client: c}
	start := time.Now()
	resp, err := g.client.Post(bb.url+kbs.PathAuth, "application/json",
		bytes.NewReader([]byte(`{"version":"0.4.0","tee":"snp","extra-params":""}`)))
	if err != nil {
		b.Fatal(err)
	}
	var ch kbs.Challenge
	if err := jsonDecode(resp, &ch); err != nil {
		b.Fatal(err)
	}
	g.latency = time.Since(start)
	g.cookie, g.nonce = resp.Header.Get("Set-Cookie"), ch.Nonce
	return g
}

// prepare does the guest's own work: a fresh key and a report binding it.
func (g *guest) prepare(b *testing.B, srv *emu.Server) {
	priv, jwk, err := kbs.NewEphemeralKey()
	if err != nil {
		b.Fatal(err)
	}
	rd, err := kbs.ReportData(g.nonce, jwk)
	if err != nil {
		b.Fatal(err)
	}
	rep, table, err := srv.Report(rd, 0)
	if err != nil {
		b.Fatal(err)
	}
	g.priv, g.body = priv, marshalAttestation(b, g.nonce, jwk, rep, table)
}

// finish attests and fetches the resource, and checks that it opens.
func (g *guest) finish(b *testing.B, bb *benchBroker, hangUp bool) {
	start := time.Now()
	req, _ := http.NewRequest("POST", bb.url+kbs.PathAttest, bytes.NewReader(g.body))
	req.Header.Set("Cookie", g.cookie)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("attest: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body) // a body left unread closes the connection
	resp.Body.Close()
	req, _ = http.NewRequest("GET", bb.url+kbs.PathResource+"default/disk/root", nil)
	req.Header.Set("Cookie", g.cookie)
	if resp, err = g.client.Do(req); err != nil {
		b.Fatal(err)
	}
	var j kbs.JWE
	if err := jsonDecode(resp, &j); err != nil || resp.StatusCode != 200 {
		b.Fatalf("resource: %d %v", resp.StatusCode, err)
	}
	g.latency += time.Since(start)
	if hangUp {
		g.client.CloseIdleConnections()
	}
	sec, err := kbs.Open(g.priv, &j)
	if err != nil {
		b.Fatal(err)
	}
	sec.Wipe()
}

// parallel runs fn(worker, i) for i in [0, count) on n workers.
func parallel(n, count int, fn func(worker, i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := range next {
				fn(w, i)
			}
		})
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
}

func p99(guests []*guest) time.Duration {
	l := make([]time.Duration, len(guests))
	for i, g := range guests {
		l[i] = g.latency
	}
	slices.Sort(l)
	return l[(len(l)*99)/100]
}

// rawRateParallel is rawRate on n workers: verify+validate per second of
// the whole machine at that concurrency, and the CPU time of one.
func rawRateParallel(b *testing.B, srv *emu.Server, n int) (float64, time.Duration) {
	c := newRawCase(b, srv)
	per := max(400/n, 10)
	cpu0, start := selfCPU(b), time.Now()
	parallel(n, n, func(int, int) { c.run(b, per) })
	wall, cpu := time.Since(start), selfCPU(b)-cpu0
	return float64(n*per) / wall.Seconds(), cpu / time.Duration(n*per)
}

// selfCPU is the CPU time this process has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
