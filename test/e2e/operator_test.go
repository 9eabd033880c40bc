//go:build e2e

package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// 6: with the operator gone, servers keep pinging their last set; when it is
// back everything reconciles and no server restarts.
func TestServersSurviveTheOperator(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t, "e2e-operator")
	createReadyGroup(t, g, ns, 3, "2s")
	before := pods(g, ns)
	some := names(before)[0]

	_, err := kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=0")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=1") })
	_, err = kubectl("-n", "peering-system", "wait", "pod", "-l", "app.kubernetes.io/name=peering-operator", "--for=delete", "--timeout=60s")
	g.Expect(err).NotTo(HaveOccurred())
	gone := time.Now()
	time.Sleep(8 * time.Second)
	for other := range before {
		if other == some {
			continue
		}
		var during int
		for _, at := range pongsFrom(logs(g, ns, some), other) {
			if at.After(gone) {
				during++
			}
		}
		g.Expect(during).To(BeNumerically(">=", 2), "%s stopped pinging %s while the operator was down", some, other)
	}

	_, err = kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=1")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = kubectl("-n", "peering-system", "rollout", "status", "deployment/peering-operator", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = kubectl("-n", ns, "scale", "peergroup/mesh", "--replicas=4") // proves it reconciles again
	g.Expect(err).NotTo(HaveOccurred())
	_, err = kubectl("-n", ns, "wait", "peergroup/mesh", "--for=jsonpath={.status.readyReplicas}=4", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	after := pods(g, ns)
	for name, p := range before {
		g.Expect(after).To(HaveKey(name))
		g.Expect(after[name].UID).To(Equal(p.UID))
		g.Expect(restarts(after[name])).To(BeZero(), "%s restarted", name)
	}
}
