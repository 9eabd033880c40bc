package app

import (
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/config"
)

// With METRICS_COMPAT=goldpinger a server's /metrics carries goldpinger's
// series, names, labels and buckets, so its dashboards and alerts read them:
// here two live peers and one that refuses, seen from node-a.
func TestGoldpingerMetrics(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	live1, live2 := startPeer(t, "peer-1"), startPeer(t, "peer-2")
	live1.HostIP, live2.HostIP = "192.0.2.11", "192.0.2.12"
	closed := listen(t)
	dead := peers.Peer{Name: "peer-3", Address: closed.Addr().String(), HostIP: "192.0.2.13"}
	closed.Close()
	s := startServer(t, config.Config{PodName: "mesh-0", NodeName: "node-a", MetricsCompat: "goldpinger",
		StaticPeers: []peers.Peer{live1, live2, dead}}, nil)

	g.Eventually(func(g Gomega) {
		f := scrape(g, s.addr)
		g.Expect(value(f, "goldpinger_nodes_health_total", "goldpinger_instance", "node-a", "status", "healthy")).To(Equal(2.0))
		g.Expect(value(f, "goldpinger_nodes_health_total", "goldpinger_instance", "node-a", "status", "unhealthy")).To(Equal(1.0))
		g.Expect(value(f, "goldpinger_cluster_health_total", "goldpinger_instance", "node-a")).To(Equal(0.0))
		g.Expect(value(f, "goldpinger_errors_total", "goldpinger_instance", "node-a", "type", "ping")).To(BeNumerically(">", 0))
		g.Expect(value(f, "goldpinger_stats_total", "goldpinger_instance", "node-a", "group", "made", "action", "ping")).To(BeNumerically(">=", 3))
	}).WithTimeout(5 * time.Second).Should(Succeed())

	// Pings it answers are counted too.
	resp, err := http.Get("http://" + s.addr + "/ping")
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	f := scrape(g, s.addr)
	g.Expect(value(f, "goldpinger_stats_total", "goldpinger_instance", "node-a", "group", "received", "action", "ping")).To(BeNumerically(">=", 1))

	// The response-time histogram: goldpinger's buckets, a series per peer
	// named by its node's and its own IP, failed pings included.
	h := f["goldpinger_peers_response_time_s"]
	g.Expect(h.GetType()).To(Equal(dto.MetricType_HISTOGRAM))
	var hosts []string
	for _, m := range h.GetMetric() {
		labels := labelMap(m)
		g.Expect(labels).To(HaveKeyWithValue("call_type", "ping"))
		g.Expect(labels).To(HaveKeyWithValue("pod_ip", "127.0.0.1"))
		hosts = append(hosts, labels["host_ip"])
		var bounds []float64
		for _, b := range m.GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		g.Expect(bounds).To(Equal([]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, math.Inf(1)}))
	}
	g.Expect(hosts).To(ConsistOf("192.0.2.11", "192.0.2.12", "192.0.2.13"))
	g.Expect(value(f, "goldpinger_peers_loss_pct", "host_ip", "192.0.2.11", "pod_ip", "127.0.0.1")).To(BeNumerically("<", 50))
}

// Without the switch there is no goldpinger series at all.
func TestNoGoldpingerMetricsByDefault(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	s := startServer(t, config.Config{PodName: "mesh-0", NodeName: "node-a", StaticPeers: []peers.Peer{startPeer(t, "peer-1")}}, nil)
	g.Eventually(func() []string { return s.log.messages() }).Should(ContainElement(HavePrefix("pong from peer-1")))
	for name := range scrape(g, s.addr) {
		g.Expect(name).NotTo(HavePrefix("goldpinger_"))
	}
}

// scrape reads a server's /metrics over HTTP.
func scrape(g Gomega, addr string) map[string]*dto.MetricFamily {
	resp, err := http.Get("http://" + addr + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	g.Expect(err).NotTo(HaveOccurred())
	return families
}

// value is the gauge or counter of the series with these label pairs (-1
// when there is none).
func value(families map[string]*dto.MetricFamily, name string, pairs ...string) float64 {
	for _, m := range families[name].GetMetric() {
		labels, match := labelMap(m), true
		for i := 0; i+1 < len(pairs); i += 2 {
			match = match && labels[pairs[i]] == pairs[i+1]
		}
		if !match {
			continue
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
