package controller_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Scaling through the scale subresource (what `kubectl scale` uses) changes
// the ReplicaSet in place; as pods go away the peers API shrinks, and a
// waiting long-poll is woken with the new list.
func TestScaleFiveToOne(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 5)
	rs := currentReplicaSet(g, pg)
	pods := startPods(g, rs, 5)
	g.Eventually(func() int32 { return getGroup(g, pg).Status.ReadyReplicas }).Should(Equal(int32(5)))
	survivor := pods[0].Name
	_, doc := fetchPeers(g, pg, survivor)
	g.Expect(doc.Peers).To(HaveLen(4))

	scale := &autoscalingv1.Scale{}
	g.Expect(k8s.SubResource("scale").Get(ctx, getGroup(g, pg), scale)).To(Succeed())
	g.Expect(scale.Status.Selector).To(Equal("app.kubernetes.io/instance=mesh,app.kubernetes.io/name=peering-server"))
	scale.Spec.Replicas = 1
	scale.ResourceVersion = "" // unconditional, as kubectl scale does: status writes must not make it conflict
	g.Expect(k8s.SubResource("scale").Update(ctx, getGroup(g, pg), client.WithSubResourceBody(scale))).To(Succeed())

	g.Eventually(func() int32 { return *currentReplicaSet(g, pg).Spec.Replicas }).Should(Equal(int32(1)))
	g.Expect(currentReplicaSet(g, pg).Name).To(Equal(rs.Name), "scaling must not roll pods")
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("Scaled"))

	waiting := longPoll(g, pg, survivor, doc.Revision)
	start := time.Now()
	for _, p := range pods[1:] { // what the ReplicaSet controller would do
		g.Expect(k8s.Delete(ctx, p)).To(Succeed())
	}
	// Follow the long-polls as a server does until the list is empty.
	for {
		var next peers.Document
		g.Eventually(waiting).WithTimeout(5*time.Second).Should(Receive(&next), "long-poll not woken by a pod going away")
		g.Expect(next.Revision).NotTo(Equal(doc.Revision))
		g.Expect(next.Order).To(BeNumerically(">", doc.Order), "each change orders after the last")
		if doc = next; len(doc.Peers) == 0 {
			break
		}
		waiting = longPoll(g, pg, survivor, doc.Revision)
	}
	t.Logf("survivor's long-polls reached an empty list %s after the deletes began", time.Since(start))
	g.Eventually(func() int32 { return getGroup(g, pg).Status.PublishedPeers }).Should(Equal(int32(1)))
	g.Eventually(func() int32 { return getGroup(g, pg).Status.Replicas }).Should(Equal(int32(1)))
	g.Eventually(func() bool { return readyCondition(g, pg).Status == "True" }).Should(BeTrue())
}
