package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A pod that copies a group's labels (a debug pod) is not a member: it is
// neither counted in status nor served as a peer.
func TestLabelCopyingPodIsNotAMember(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	rs := currentReplicaSet(g, pg)
	pods := startPods(g, rs, 2)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())
	_, before := fetchPeers(g, pg, pods[0].Name)

	debug := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: pg.Namespace, Labels: rs.Spec.Template.Labels},
		Spec: rs.Spec.Template.Spec}
	g.Expect(k8s.Create(ctx, debug)).To(Succeed())
	debug.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.99.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	g.Expect(k8s.Status().Update(ctx, debug)).To(Succeed())

	g.Consistently(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(got.Status.Replicas).To(Equal(int32(2)))
		g.Expect(got.Status.ReadyReplicas).To(Equal(int32(2)))
		g.Expect(got.Status.PublishedPeers).To(Equal(int32(2)))
		_, doc := fetchPeers(g, pg, pods[0].Name)
		g.Expect(doc.Revision).To(Equal(before.Revision))
		g.Expect(peerNames(doc)).NotTo(ContainElement("debug"))
	}).WithTimeout(2 * time.Second).Should(Succeed())
	g.Expect(k8s.Delete(ctx, debug)).To(Succeed())
}

// The operator's cache holds only its own ReplicaSets (and Services and
// NetworkPolicies), not every one in the cluster.
func TestCacheHoldsOnlyTheOperatorsObjects(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	ours := currentReplicaSet(g, pg)
	theirs := ours.DeepCopy()
	theirs.ObjectMeta = metav1.ObjectMeta{Name: "unrelated", Namespace: pg.Namespace, Labels: map[string]string{"app": "unrelated"}}
	theirs.Spec.Selector.MatchLabels = map[string]string{"app": "unrelated"}
	theirs.Spec.Template.Labels = map[string]string{"app": "unrelated"}
	g.Expect(k8s.Create(ctx, theirs)).To(Succeed())

	cache := env.Manager.GetCache()
	g.Eventually(func() error { return cache.Get(ctx, client.ObjectKeyFromObject(ours), ours) }).Should(Succeed())
	g.Consistently(func() error { return cache.Get(ctx, client.ObjectKeyFromObject(theirs), theirs.DeepCopy()) }).
		WithTimeout(time.Second).ShouldNot(Succeed())
}
