// Package metrics defines the server's Prometheus metrics.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Outcomes of a ping, the values of the "outcome" label.
const (
	OK          = "ok"
	Timeout     = "timeout"
	Refused     = "refused"
	Unreachable = "unreachable" // any other transport error (no route, reset, DNS)
	BadBody     = "bad-body"
	HTTPError   = "http-error"
)

// Metrics is every series the server exports.
type Metrics struct {
	RTT             *prometheus.HistogramVec
	Pings           *prometheus.CounterVec
	Segments        *prometheus.CounterVec
	Retransmits     *prometheus.CounterVec
	Loss            *prometheus.GaugeVec
	Peers           prometheus.Gauge
	ConfigRevision  *prometheus.GaugeVec
	LastConfigFetch prometheus.Gauge
	// Goldpinger is nil unless METRICS_COMPAT=goldpinger.
	Goldpinger *Goldpinger
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "peering_ping_rtt_seconds",
			Help:    "Round-trip time of successful pings, per peer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~2.4s
		}, []string{"peer"}),
		Pings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peering_pings_total",
			Help: "Pings sent, per peer and outcome (ok, timeout, refused, unreachable, bad-body, http-error).",
		}, []string{"peer", "outcome"}),
		Segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peering_tcp_segments_total",
			Help: "TCP data segments sent to a peer for pings, retransmissions included (Linux TCP_INFO).",
		}, []string{"peer"}),
		Retransmits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peering_tcp_retransmits_total",
			Help: "TCP segments retransmitted to a peer for pings: packet loss that TCP hid (Linux TCP_INFO).",
		}, []string{"peer"}),
		Loss: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "peering_peer_loss_ratio",
			Help: "Retransmitted fraction of the TCP segments sent to a peer over its last pings (the /links window).",
		}, []string{"peer"}),
		Peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peering_peers",
			Help: "Number of peers currently being pinged.",
		}),
		ConfigRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "peering_config_revision_info",
			Help: "Revision of the peers document in use (value is always 1).",
		}, []string{"revision"}),
		LastConfigFetch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peering_config_last_success_timestamp_seconds",
			Help: "Unix time of the last successful answer (200 or 304) from the peers endpoint.",
		}),
	}
	reg.MustRegister(m.RTT, m.Pings, m.Segments, m.Retransmits, m.Loss, m.Peers, m.ConfigRevision, m.LastConfigFetch)
	return m
}

// ForgetPeer drops a removed peer's series so /metrics only shows the current set.
func (m *Metrics) ForgetPeer(name string) {
	m.RTT.DeleteLabelValues(name)
	m.Segments.DeleteLabelValues(name)
	m.Retransmits.DeleteLabelValues(name)
	m.Loss.DeleteLabelValues(name)
	m.Pings.DeletePartialMatch(prometheus.Labels{"peer": name})
}

// SetRevision records the revision of the document in use.
func (m *Metrics) SetRevision(revision string) {
	m.ConfigRevision.Reset()
	m.ConfigRevision.WithLabelValues(revision).Set(1)
}
