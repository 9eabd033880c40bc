//go:build e2e

package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// 3: a new pingInterval and maxPeersPerPod reach running pods: no restarts,
// and the log timestamps follow the new interval.
func TestSettingsChangeWithoutRestart(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-settings")
	cluster.CreateReadyGroup(t, g, ns, 4, "2s")
	before := cluster.Pods(g, ns)

	_, err := cluster.Kubectl("-n", ns, "patch", "peergroup/mesh", "--type=merge", "-p", `{"spec":{"pingInterval":"5s","maxPeersPerPod":2}}`)
	g.Expect(err).NotTo(HaveOccurred())
	changed := time.Now()
	time.Sleep(16 * time.Second) // three new intervals

	after := cluster.Pods(g, ns)
	g.Expect(cluster.Names(after)).To(Equal(cluster.Names(before)), "pods were replaced")
	for name, p := range after {
		g.Expect(p.UID).To(Equal(before[name].UID))
		g.Expect(cluster.Restarts(p)).To(BeZero(), "%s restarted", name)
		lines := cluster.Logs(g, ns, name)
		pinged := 0
		for other := range after {
			var gaps []time.Duration
			var last time.Time
			for _, at := range cluster.PongsFrom(lines, other) {
				if at.After(changed.Add(time.Second)) { // the loops re-stagger on the change
					if !last.IsZero() {
						gaps = append(gaps, at.Sub(last))
					}
					last = at
				}
			}
			if last.IsZero() {
				continue
			}
			pinged++
			for _, gap := range gaps {
				g.Expect(gap).To(BeNumerically("~", 5*time.Second, 700*time.Millisecond), "%s → %s pinged %s apart, want 5s ±10%%", name, other, gap)
			}
		}
		g.Expect(pinged).To(Equal(2), "%s should ping maxPeersPerPod=2 peers after the change", name)
	}
}
