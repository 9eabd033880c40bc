package controller_test

import (
	"net/http"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pods becoming Ready move the group from Reconciling to Ready, fill
// readyReplicas and status.publishedPeers, and reach the peers API.
func TestPodsBecomingReadyMakeTheGroupReady(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 3)
	rs := currentReplicaSet(g, pg)
	pods := startPods(g, rs, 2)

	g.Eventually(func() string { return readyCondition(g, pg).Message }).Should(Equal("2/3 pods ready"))
	g.Expect(conditions.IsReconciling(getGroup(g, pg))).To(BeTrue())

	pods = append(pods, startPods(g, rs, 1)...)
	g.Eventually(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(conditions.IsReady(got)).To(BeTrue())
		g.Expect(conditions.Get(got, meta.ReadyCondition).Reason).To(Equal(meta.SucceededReason))
		g.Expect(conditions.Has(got, meta.ReconcilingCondition)).To(BeFalse())
		g.Expect(conditions.Has(got, meta.StalledCondition)).To(BeFalse())
		g.Expect(got.Status.ReadyReplicas).To(Equal(int32(3)))
		g.Expect(got.Status.Replicas).To(Equal(int32(3)))
		g.Expect(got.Status.PublishedPeers).To(Equal(int32(3)))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).Should(Succeed())

	code, doc := fetchPeers(g, pg, pods[0].Name)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(doc.Group).To(Equal(pg.Namespace + "/mesh"))
	g.Expect(peerNames(doc)).To(ConsistOf(pods[1].Name, pods[2].Name), "self is left out")
	g.Expect(doc.Peers[0].Address).To(MatchRegexp(`^10\.88\.\d+\.\d+:8080$`))
	g.Expect(doc.PingInterval.Duration.String()).To(Equal("10s"))

	// A pod that stops being Ready leaves the peer list and the group.
	pods[2].Status.Conditions[0].Status = "False"
	pods[2].Status.Conditions[0].LastTransitionTime = metav1.Now()
	g.Expect(k8s.Status().Update(ctx, pods[2])).To(Succeed())
	g.Eventually(func() []string { _, d := fetchPeers(g, pg, pods[0].Name); return peerNames(d) }).Should(ConsistOf(pods[1].Name))
	g.Eventually(func() string { return readyCondition(g, pg).Message }).Should(Equal("2/3 pods ready"))
}
