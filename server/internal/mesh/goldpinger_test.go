package mesh

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// A peer that leaves takes its goldpinger series with it, and the health
// counts follow the peer set, not the peers ever seen.
func TestALeavingPeerLeavesNoGoldpingerSeries(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("pong\n")) }))
	t.Cleanup(s.Close)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.Goldpinger = metrics.NewGoldpinger(reg, "node-a")
	ctx, cancel := context.WithCancel(context.Background())
	mesh := New(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), m, func(peers.Peer) bool { return false })
	t.Cleanup(func() { cancel(); mesh.Wait() })
	peer := peers.Peer{Name: "peer-1", Address: strings.TrimPrefix(s.URL, "http://"), HostIP: "192.0.2.11"}
	settings := Settings{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond}

	mesh.Apply(settings, []peers.Peer{peer})
	deadline := time.Now().Add(5 * time.Second)
	for goldpinger(t, reg, "goldpinger_peers_response_time_s") == 0 || goldpinger(t, reg, `status="healthy"`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no goldpinger series for a pinged peer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mesh.Apply(settings, nil)
	if n := goldpinger(t, reg, `host_ip="192.0.2.11"`); n != 0 {
		t.Errorf("%d series of the peer that left remain", n)
	}
	if n := goldpinger(t, reg, `status="healthy"`); n != 0 {
		t.Errorf("goldpinger_nodes_health_total{status=healthy} is %d with no peer", n)
	}
}

// goldpinger counts the goldpinger_* series whose name{labels} holds
// match; for goldpinger_nodes_health_total it returns that series' value.
func goldpinger(t *testing.T, reg *prometheus.Registry, match string) int {
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "goldpinger_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			series := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			if !strings.Contains(series, match) {
				continue
			}
			if f.GetName() == "goldpinger_nodes_health_total" {
				return int(m.GetGauge().GetValue())
			}
			n++
		}
	}
	return n
}
