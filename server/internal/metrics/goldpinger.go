package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Goldpinger exports goldpinger's metric names, labels and buckets beside
// the server's own (METRICS_COMPAT=goldpinger), so its dashboards and its
// goldpinger_nodes_unhealthy alert work unchanged. goldpinger_instance is
// the node name, as goldpinger sets it. What goldpinger measures and this
// server does not (calls to the Kubernetes API, DNS, TCP and HTTP probes of
// other hosts, UDP hop counts) is not exported rather than faked.
type Goldpinger struct {
	instance      string
	responseTime  *prometheus.HistogramVec
	nodesHealth   *prometheus.GaugeVec
	clusterHealth *prometheus.GaugeVec
	errors        *prometheus.CounterVec
	stats         *prometheus.CounterVec
	loss          *prometheus.GaugeVec
}

// NewGoldpinger registers goldpinger's series on reg for a server on node.
func NewGoldpinger(reg prometheus.Registerer, node string) *Goldpinger {
	g := &Goldpinger{
		instance: node,
		responseTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "goldpinger_peers_response_time_s",
			Help:    "goldpinger-compatible: time of each ping to a peer, failed or not, in seconds.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"goldpinger_instance", "call_type", "host_ip", "pod_ip"}),
		nodesHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "goldpinger_nodes_health_total",
			Help: "goldpinger-compatible: peers whose last ping succeeded (healthy) or failed (unhealthy), as this server sees them.",
		}, []string{"goldpinger_instance", "status"}),
		clusterHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "goldpinger_cluster_health_total",
			Help: "goldpinger-compatible: 1 when every peer answered its last ping, else 0.",
		}, []string{"goldpinger_instance"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "goldpinger_errors_total",
			Help: "goldpinger-compatible: failed pings (type ping).",
		}, []string{"goldpinger_instance", "type"}),
		stats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "goldpinger_stats_total",
			Help: "goldpinger-compatible: pings made to peers (group made) and answered to them (group received).",
		}, []string{"goldpinger_instance", "group", "action"}),
		loss: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "goldpinger_peers_loss_pct",
			Help: "goldpinger-compatible: loss to a peer in percent (0-100), here the share of its ping segments TCP retransmitted over the last pings.",
		}, []string{"goldpinger_instance", "host_ip", "pod_ip"}),
	}
	reg.MustRegister(g.responseTime, g.nodesHealth, g.clusterHealth, g.errors, g.stats, g.loss)
	// Present from the start, as goldpinger's are once it has checked.
	g.errors.WithLabelValues(node, "ping")
	g.stats.WithLabelValues(node, "made", "ping")
	g.stats.WithLabelValues(node, "received", "ping")
	return g
}

// Ping counts one ping made to a peer (on host hostIP, at podIP), and its
// time, failed or not, as goldpinger does.
func (g *Goldpinger) Ping(hostIP, podIP string, took time.Duration, ok bool) {
	g.stats.WithLabelValues(g.instance, "made", "ping").Inc()
	g.responseTime.WithLabelValues(g.instance, "ping", hostIP, podIP).Observe(took.Seconds())
	if !ok {
		g.errors.WithLabelValues(g.instance, "ping").Inc()
	}
}

// Received counts a ping this server answered.
func (g *Goldpinger) Received() { g.stats.WithLabelValues(g.instance, "received", "ping").Inc() }

// Health sets how many peers answered their last ping (healthy) and how many
// did not; the cluster is healthy when none failed.
func (g *Goldpinger) Health(healthy, unhealthy int) {
	g.nodesHealth.WithLabelValues(g.instance, "healthy").Set(float64(healthy))
	g.nodesHealth.WithLabelValues(g.instance, "unhealthy").Set(float64(unhealthy))
	cluster := 0.0
	if unhealthy == 0 {
		cluster = 1
	}
	g.clusterHealth.WithLabelValues(g.instance).Set(cluster)
}

// Loss sets a peer's loss from its retransmitted fraction (0-1).
func (g *Goldpinger) Loss(hostIP, podIP string, ratio float64) {
	g.loss.WithLabelValues(g.instance, hostIP, podIP).Set(100 * ratio)
}

// Forget drops a peer that left.
func (g *Goldpinger) Forget(hostIP, podIP string) {
	g.responseTime.DeletePartialMatch(prometheus.Labels{"host_ip": hostIP, "pod_ip": podIP})
	g.loss.DeleteLabelValues(g.instance, hostIP, podIP)
}
