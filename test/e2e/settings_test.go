//go:build e2e

package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// 3: a new pingInterval and maxPeersPerPod reach running pods: no restarts,
// and the log timestamps follow the new interval.
func TestSettingsChangeWithoutRestart(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, "e2e-settings")
	createReadyGroup(t, g, ns, 4, "2s")
	before := pods(g, ns)

	_, err := kubectl("-n", ns, "patch", "peergroup/mesh", "--type=merge", "-p", `{"spec":{"pingInterval":"5s","maxPeersPerPod":2}}`)
	g.Expect(err).NotTo(HaveOccurred())
	changed := time.Now()
	time.Sleep(16 * time.Second) // three new intervals

	after := pods(g, ns)
	g.Expect(names(after)).To(Equal(names(before)), "pods were replaced")
	for name, p := range after {
		g.Expect(p.UID).To(Equal(before[name].UID))
		g.Expect(restarts(p)).To(BeZero(), "%s restarted", name)
		lines := logs(g, ns, name)
		pinged := 0
		for other := range after {
			var gaps []time.Duration
			var last time.Time
			for _, at := range pongsFrom(lines, other) {
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
