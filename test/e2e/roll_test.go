//go:build e2e

package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// 4: a new image tag replaces every pod, and at no moment of the roll is the
// whole mesh down.
func TestImageChangeRollsWithoutOutage(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-roll")
	cluster.CreateReadyGroup(t, g, ns, 3, "2s")
	before := cluster.Pods(g, ns)

	var samples, down atomic.Int32
	stop := make(chan struct{})
	go func() { // sample readiness every 200ms during the roll
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			var list corev1.PodList
			if cluster.K8s.List(context.Background(), &list, client.InNamespace(ns)) != nil {
				continue
			}
			ready := 0
			for _, p := range list.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			samples.Add(1)
			if ready == 0 {
				down.Add(1)
			}
		}
	}()
	_, err := cluster.Kubectl("-n", ns, "patch", "peergroup/mesh", "--type=merge", "-p", `{"spec":{"image":"simulated-peering/server:dev2"}}`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		now := cluster.Pods(g, ns)
		g.Expect(now).To(HaveLen(3))
		for name, p := range now {
			g.Expect(before).NotTo(HaveKey(name), "old pod %s still running", name)
			g.Expect(p.Spec.Containers[0].Image).To(Equal("simulated-peering/server:dev2"))
		}
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	close(stop)
	t.Logf("%d readiness samples during the roll, %d with no Ready pod", samples.Load(), down.Load())
	g.Expect(down.Load()).To(BeZero(), "the whole mesh was down during the roll")
}
