//go:build e2e

package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// 6: with the operator gone, servers keep pinging their last set; when it is
// back everything reconciles and no server restarts.
func TestServersSurviveTheOperator(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-operator")
	cluster.CreateReadyGroup(t, g, ns, 3, "2s")
	before := cluster.Pods(g, ns)
	some := cluster.Names(before)[0]

	_, err := cluster.Kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=0")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		cluster.Kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=2")
	})
	_, err = cluster.Kubectl("-n", "peering-system", "wait", "pod", "-l", "app.kubernetes.io/name=peering-operator", "--for=delete", "--timeout=60s")
	g.Expect(err).NotTo(HaveOccurred())
	gone := time.Now()
	time.Sleep(8 * time.Second)
	for other := range before {
		if other == some {
			continue
		}
		var during int
		for _, at := range cluster.PongsFrom(cluster.Logs(g, ns, some), other) {
			if at.After(gone) {
				during++
			}
		}
		g.Expect(during).To(BeNumerically(">=", 2), "%s stopped pinging %s while the operator was down", some, other)
	}

	_, err = cluster.Kubectl("-n", "peering-system", "scale", "deployment/peering-operator", "--replicas=2")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", "peering-system", "rollout", "status", "deployment/peering-operator", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", ns, "scale", "peergroup/mesh", "--replicas=4") // proves it reconciles again
	g.Expect(err).NotTo(HaveOccurred())
	_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=jsonpath={.status.readyReplicas}=4", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	after := cluster.Pods(g, ns)
	for name, p := range before {
		g.Expect(after).To(HaveKey(name))
		g.Expect(after[name].UID).To(Equal(p.UID))
		g.Expect(cluster.Restarts(after[name])).To(BeZero(), "%s restarted", name)
	}
}
