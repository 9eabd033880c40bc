package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Per group only: per-link series would grow with the square of the mesh.
var (
	groupLinks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peering_group_links",
		Help: "Links of a PeerGroup by state (expected, up, down, degraded, unmeasured), from its servers' latest /links reports; degraded links are up and lose packets through a Degraded suspect.",
	}, []string{"namespace", "peergroup", "state"})
	groupSuspects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peering_group_suspects",
		Help: "Suspects of a PeerGroup by kind (Pod, Node, Zone, Link) and severity (Down, Degraded).",
	}, []string{"namespace", "peergroup", "kind", "severity"})
	// One series per published suspect (at most MaxSuspects a group), so an
	// alert can say which pod, node or zone.
	groupSuspect = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peering_group_suspect_info",
		Help: "A suspect a PeerGroup's status names (value 1): its kind, name, node (of a pod), reason and severity.",
	}, []string{"namespace", "peergroup", "kind", "name", "node", "reason", "severity"})
	groupRTT = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "peering_group_link_rtt_seconds",
		Help: "Round-trip time of a PeerGroup's successful pings over its up links' windows, pooled: the upper bound of the bucket quantile 0.5 and 0.99 fall in, as the status writes it (it moves only when a change outlasts the windows; the servers' peering_ping_rtt_seconds has every ping).",
	}, []string{"namespace", "peergroup", "quantile"})
)

func init() { metrics.Registry.MustRegister(groupLinks, groupSuspects, groupSuspect, groupRTT) }

func record(key types.NamespacedName, r Result) {
	l := r.Links
	for state, v := range map[string]int32{"expected": l.Expected, "up": l.Up, "down": l.Down, "degraded": l.Degraded, "unmeasured": l.Unmeasured} {
		groupLinks.WithLabelValues(key.Namespace, key.Name, state).Set(float64(v))
	}
	for _, kind := range []string{"Pod", "Node", "Zone", "Link"} {
		for _, severity := range []string{"Down", "Degraded"} {
			n := 0
			for _, s := range r.Suspects {
				if s.Kind == kind && s.Severity == severity {
					n++
				}
			}
			groupSuspects.WithLabelValues(key.Namespace, key.Name, kind, severity).Set(float64(n))
		}
	}
	groupSuspect.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "peergroup": key.Name})
	for _, s := range r.Suspects {
		groupSuspect.WithLabelValues(key.Namespace, key.Name, s.Kind, s.Name, s.Node, s.Reason, s.Severity).Set(1)
	}
	for q, v := range map[string]string{"0.5": l.P50, "0.99": l.P99} {
		if d, err := parseDuration(v); err == nil {
			groupRTT.WithLabelValues(key.Namespace, key.Name, q).Set(d)
		} else {
			groupRTT.DeleteLabelValues(key.Namespace, key.Name, q)
		}
	}
}

func forget(key types.NamespacedName) {
	for _, vec := range []*prometheus.GaugeVec{groupLinks, groupSuspects, groupSuspect, groupRTT} {
		vec.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "peergroup": key.Name})
	}
}

// parseDuration reads a latency ("1ms") as seconds.
func parseDuration(s string) (float64, error) {
	d, err := time.ParseDuration(s)
	return d.Seconds(), err
}
