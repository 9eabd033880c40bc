package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// A new PeerGroup gets a ReplicaSet, a headless Service and a NetworkPolicy,
// all controlled by it, and a kstatus-conformant status from the first pass.
func TestCreateRendersOwnedObjects(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 3)

	rs := currentReplicaSet(g, pg)
	g.Expect(*rs.Spec.Replicas).To(Equal(int32(3)))
	g.Expect(metav1.IsControlledBy(rs, getGroup(g, pg))).To(BeTrue())
	c := rs.Spec.Template.Spec.Containers[0]
	g.Expect(c.Image).To(Equal("simulated-peering/server:test"))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "PEERS_URL",
		Value: "http://peering-operator.peering-system.svc:8082/v1/namespaces/" + pg.Namespace + "/peergroups/mesh/peers"}))
	g.Expect(c.Resources.Requests).To(Equal(c.Resources.Limits))

	svc := &corev1.Service{}
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(pg), svc) }).Should(Succeed())
	g.Expect(svc.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
	g.Expect(svc.Spec.Selector).To(Equal(render.SelectorLabels(pg)))
	g.Expect(metav1.IsControlledBy(svc, getGroup(g, pg))).To(BeTrue())

	np := &networkingv1.NetworkPolicy{}
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(pg), np) }).Should(Succeed())
	g.Expect(np.Spec.PodSelector.MatchLabels).To(Equal(render.SelectorLabels(pg)))
	g.Expect(metav1.IsControlledBy(np, getGroup(g, pg))).To(BeTrue())

	g.Eventually(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.Selector).To(Equal("app.kubernetes.io/instance=mesh,app.kubernetes.io/name=peering-server"))
		g.Expect(conditions.IsFalse(got, meta.ReadyCondition)).To(BeTrue())
		g.Expect(conditions.IsReconciling(got)).To(BeTrue())
		g.Expect(conditions.GetMessage(got, meta.ReadyCondition)).To(Equal("0/3 pods ready"))
	}).Should(Succeed())
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("Created"))
}

// The CRD defaults what the spec leaves out.
func TestCreateAppliesDefaults(t *testing.T) {
	g := NewWithT(t)
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: namespace(t)}}
	g.Expect(k8s.Create(ctx, pg)).To(Succeed())
	got := getGroup(g, pg)
	g.Expect(*got.Spec.Replicas).To(Equal(int32(3)))
	g.Expect(got.Spec.PingInterval).To(Equal(&metav1.Duration{Duration: time.Minute}), "stored, not just defaulted in Go")
	g.Expect(got.Spec.PingTimeout).To(Equal(&metav1.Duration{Duration: 2 * time.Second}))
	g.Expect(got.Spec.Port).To(Equal(int32(8080)))
	g.Expect(got.Spec.MaxPeersPerPod).To(BeZero())
}
