package mesh

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// Loss that TCP hides is counted: 100 pings on one kept-alive connection
// through a loopback that drops 20% of the packets to the server's port
// (iptables' statistic match, in a network namespace of the test's own)
// all succeed, and the pinger's retransmits say how much was lost. Without
// the drop rule, none are retransmitted.
func TestPingCountsRetransmits(t *testing.T) {
	if os.Getenv("LOSS_TEST_CHILD") != "" {
		return // the child runs TestLossChild
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace with an iptables rule")
	}
	for _, iptables := range []string{"iptables", "unshare"} {
		if _, err := exec.LookPath(iptables); err != nil {
			t.Skipf("no %s", iptables)
		}
	}
	run := func(probability string) (segments, retransmits, ok int) {
		script := `set -e; ip link set lo up
[ "$1" = 0 ] || iptables -A INPUT -p tcp --dport 18080 -m statistic --mode random --probability "$1" -j DROP
exec "$2" -test.run '^TestLossChild$' -test.v`
		cmd := exec.Command("unshare", "--net", "sh", "-c", script, "sh", probability, os.Args[0])
		cmd.Env = append(os.Environ(), "LOSS_TEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		line := out[strings.Index(string(out), "counts:"):]
		if _, err := fmt.Sscanf(string(line), "counts: %d %d %d", &segments, &retransmits, &ok); err != nil {
			t.Fatalf("child said: %s", out)
		}
		return segments, retransmits, ok
	}
	segments, retransmits, ok := run("0")
	t.Logf("no loss: %d pings ok, %d segments, %d retransmitted", ok, segments, retransmits)
	if ok != pings || segments != pings || retransmits != 0 {
		t.Errorf("without loss: %d ok, %d segments, %d retransmits; want %d, %d, 0", ok, segments, retransmits, pings, pings)
	}
	segments, retransmits, ok = run("0.2")
	loss := float64(retransmits) / float64(segments)
	t.Logf("20%% dropped: %d pings ok, %d segments, %d retransmitted (%.1f%%)", ok, segments, retransmits, 100*loss)
	if ok < pings-5 || loss < 0.05 || loss > 0.4 {
		t.Errorf("with 20%% dropped: %d of 100 ok and loss %.3f; want nearly all ok and 0.05-0.4", ok, loss)
	}
}

// pings is how many pings the child sends.
const pings = 100

// TestLossChild is TestPingCountsRetransmits's other half, in the network
// namespace: a server on port 18080 and 100 pings to it.
func TestLossChild(t *testing.T) {
	if os.Getenv("LOSS_TEST_CHILD") == "" {
		t.Skip("run by TestPingCountsRetransmits")
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(peers.ResponderHeader, "b")
		w.Write([]byte("pong\n"))
	}))
	l, err := net.Listen("tcp", "127.0.0.1:18080")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = l
	s.Start()
	defer s.Close()
	p := NewPinger()
	segments, retransmits, ok := 0, 0, 0
	for range pings {
		r := p.Ping(context.Background(), "127.0.0.1:18080", 10*time.Second)
		segments, retransmits = segments+r.Segments, retransmits+r.Retransmits
		if r.Outcome == metrics.OK {
			ok++
		}
	}
	fmt.Printf("counts: %d %d %d\n", segments, retransmits, ok)
}
