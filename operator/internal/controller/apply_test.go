package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Objects are server-side applied by peering-operator: what other actors
// add (labels, annotations, finalizers) survives, and drift in the fields
// the operator renders (a hand-widened NetworkPolicy) is put back without
// any change to the PeerGroup.
func TestApplyKeepsOthersFieldsAndCorrectsDrift(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	startPods(g, currentReplicaSet(g, pg), 1)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())
	np := &networkingv1.NetworkPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), np)).To(Succeed())
	g.Expect(np.ManagedFields).To(ContainElement(And(
		HaveField("Manager", "peering-operator"), HaveField("Operation", metav1.ManagedFieldsOperationApply))))
	rules := np.Spec.Ingress

	// Someone else labels it, and widens it to everyone.
	patch := client.MergeFrom(np.DeepCopy())
	np.Labels["team"] = "network"
	np.Annotations = map[string]string{"note": "audited"}
	np.Finalizers = []string{"example.com/audit"}
	np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
	g.Expect(k8s.Patch(ctx, np, patch, client.FieldOwner("someone"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		got := &networkingv1.NetworkPolicy{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), got)).To(Succeed())
		g.Expect(got.Spec.Ingress).To(Equal(rules), "the widening was not reverted")
		g.Expect(got.Labels).To(HaveKeyWithValue("team", "network"))
		g.Expect(got.Annotations).To(HaveKeyWithValue("note", "audited"))
		g.Expect(got.Finalizers).To(ConsistOf("example.com/audit"))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Let the test namespace go.
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), np)).To(Succeed())
	patch = client.MergeFrom(np.DeepCopy())
	np.Finalizers = nil
	g.Expect(k8s.Patch(ctx, np, patch)).To(Succeed())
}
