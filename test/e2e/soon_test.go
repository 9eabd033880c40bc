//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// At pingInterval 60s, scaling 1 → 5 has every new pod pinged within 10 s
// of being Ready by each pinger that was already running when it joined
// (a peer in a pinger's *first* document is spread over one interval
// instead, so a restarting mesh never pings in lockstep).
func TestNewPodsArePingedSoonAtA60sInterval(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-soon")
	cluster.CreateReadyGroup(t, g, ns, 1, "60s")
	_, err := cluster.Kubectl("-n", ns, "scale", "peergroup/mesh", "--replicas=5")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	pods := cluster.Pods(g, ns)
	g.Expect(pods).To(HaveLen(5))

	checked, spread := 0, 0
	var slowest time.Duration
	for _, pinger := range cluster.Names(pods) {
		for _, peer := range cluster.Names(pods) {
			if peer == pinger {
				continue
			}
			var first, added time.Time
			g.Eventually(func() time.Time {
				first, added = time.Time{}, time.Time{}
				for _, l := range cluster.Logs(g, ns, pinger) {
					if first.IsZero() && strings.HasPrefix(l.Msg, "peers document ") {
						first = l.At
					}
					if strings.HasPrefix(l.Msg, "now pinging "+peer+" ") {
						added = l.At
					}
				}
				return added
			}).WithTimeout(10*time.Second).ShouldNot(BeZero(), "%s never started pinging %s", pinger, peer)
			if added.Sub(first) < time.Second { // in the pinger's first document
				spread++
				continue
			}
			ready := readySince(pods[peer])
			g.Expect(added.Sub(ready)).To(BeNumerically("<", 3*time.Second), "%s learnt of %s %s after it was Ready", pinger, peer, added.Sub(ready))
			var pinged time.Time
			g.Eventually(func() []time.Time { return cluster.PongsFrom(cluster.Logs(g, ns, pinger), peer) }).
				WithTimeout(time.Until(ready.Add(11*time.Second))).ShouldNot(BeEmpty(), "%s did not ping %s within 10s of it being Ready", pinger, peer)
			pinged = cluster.PongsFrom(cluster.Logs(g, ns, pinger), peer)[0]
			g.Expect(pinged.Sub(ready)).To(BeNumerically("<", 11*time.Second), "Ready is known to the second")
			slowest = max(slowest, pinged.Sub(ready))
			checked++
		}
	}
	g.Expect(checked).To(BeNumerically(">=", 4), "at least the survivor's four new peers")
	t.Logf("%d pinger→new pod pairs pinged within %s of the pod being Ready (Ready known to the second); %d pairs were in a pinger's first document (spread over 60s)",
		checked, slowest.Round(time.Millisecond), spread)
}

func readySince(p corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
