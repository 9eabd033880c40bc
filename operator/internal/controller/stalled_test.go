package controller_test

import (
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// An object the API server rejects as invalid (here a CPU request above its
// limit) cannot be fixed by retrying:
// the group is Stalled (kstatus Failed) until its spec changes.
func TestInvalidRenderedObjectStallsUntilFixed(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1, func(pg *v1alpha1.PeerGroup) {
		pg.Spec.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}
	})
	g.Eventually(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(conditions.IsStalled(got)).To(BeTrue(), "%+v", got.Status.Conditions)
		g.Expect(conditions.GetReason(got, meta.ReadyCondition)).To(Equal("InvalidObject"))
		g.Expect(conditions.GetMessage(got, meta.ReadyCondition)).To(ContainSubstring("creating ReplicaSet"))
		g.Expect(conditions.Has(got, meta.ReconcilingCondition)).To(BeFalse())
	}).Should(Succeed())
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("InvalidObject"))

	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) {
		latest.Spec.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	})
	g.Eventually(func() bool { return conditions.Has(getGroup(g, pg), meta.StalledCondition) }).Should(BeFalse())
	g.Expect(conditions.IsReconciling(getGroup(g, pg))).To(BeTrue())
}
