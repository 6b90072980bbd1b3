//go:build linux

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// testFakeBroker (H5): a broker with a TLS identity from another CA, but the
// same policy and store, so it would release the key. The guest pins its
// broker's CA in the measured config: it must refuse the TLS handshake and
// fail closed without ever sending a request.
func testFakeBroker(t *testing.T, e *Env) {
	ctx := context.Background()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := e.Variant(ctx, "initramfs-fake-broker.img", func(c *config.Config) {
		c.Broker.URL = "https://10.0.2.2:" + strconv.Itoa(port)
	})
	if err != nil {
		t.Fatal(err)
	}
	fakeTLS := e.path("tls-fake")
	if _, err := TLSInit(ctx, e.Bin, fakeTLS); err != nil {
		t.Fatal(err)
	}
	r := boot(t, e, "fake-broker", BootOptions{Initrd: initrd,
		Broker: &BrokerRun{Policy: e.Policy, TLSDir: fakeTLS, Port: port}})
	wantFail(t, r, klog.CodeBrokerUnreachable, "key")
	wantNoOS(t, e, r)
	if !strings.Contains(string(r.Raw), "certificate") {
		t.Errorf("the failure does not name the certificate problem")
	}
	audit, err := os.ReadFile(filepath.Join(filepath.Dir(r.SerialLog), "audit.jsonl"))
	if err != nil || len(audit) != 0 {
		t.Errorf("the fake broker answered requests (%v):\n%s", err, audit)
	}
}
