package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// A tenant's PeerGroup named like an existing object (a namespace's
// default-deny NetworkPolicy, another controller's Service, a ReplicaSet)
// never modifies it: the group is Stalled AlreadyOwned, naming it.
func TestNeverTakesOverAnotherObject(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object func(ns string) client.Object
	}{
		{"a user's NetworkPolicy", func(ns string) client.Object {
			return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
		}},
		{"another controller's Service", func(ns string) client.Object {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "1234", Controller: ptr.To(true)}}},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 5432}}}}
		}},
		{"a ReplicaSet with the group's name and template hash", func(ns string) client.Object {
			rs := render.ReplicaSet(&v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns},
				Spec: groupSpec(1)}, testenv.RenderOptions)
			rs.OwnerReferences = nil
			rs.Labels = map[string]string{"app": "someone-else"}
			return rs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := namespace(t)
			theirs := tc.object(ns)
			g.Expect(k8s.Create(ctx, theirs)).To(Succeed())
			before := theirs.DeepCopyObject().(client.Object)

			pg := newGroup(g, ns, "mesh", 1)
			g.Eventually(func(g Gomega) {
				got := getGroup(g, pg)
				g.Expect(conditions.GetReason(got, meta.StalledCondition)).To(Equal("AlreadyOwned"))
				g.Expect(conditions.GetMessage(got, meta.ReadyCondition)).To(ContainSubstring(theirs.GetName() + " already exists"))
			}).Should(Succeed())
			g.Eventually(eventReasons(g, pg)).Should(ContainElement("AlreadyOwned"))

			g.Consistently(func(g Gomega) {
				now := before.DeepCopyObject().(client.Object)
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(before), now)).To(Succeed())
				g.Expect(now.GetResourceVersion()).To(Equal(before.GetResourceVersion()), "the operator modified it")
			}).WithTimeout(2 * time.Second).Should(Succeed())
		})
	}
}

func groupSpec(replicas int32) v1alpha1.PeerGroupSpec {
	return v1alpha1.PeerGroupSpec{Replicas: ptr.To(replicas), PingInterval: &metav1.Duration{Duration: 10 * time.Second}}
}

// `kubectl delete pg --cascade=orphan` leaves the objects without an owner
// (the garbage collector removes the references; envtest has none, so the
// test does): a new PeerGroup of the same name adopts them, pods included.
func TestOrphansAreAdopted(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	rs := currentReplicaSet(g, pg)
	startPods(g, rs, 2)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())

	g.Expect(k8s.Delete(ctx, getGroup(g, pg))).To(Succeed())
	owned := []client.Object{&corev1.Service{}, &networkingv1.NetworkPolicy{}, &appsv1.ReplicaSet{}, &corev1.ServiceAccount{}}
	keys := []types.NamespacedName{client.ObjectKeyFromObject(pg), client.ObjectKeyFromObject(pg), client.ObjectKeyFromObject(rs),
		{Namespace: pg.Namespace, Name: render.ServiceAccountName(pg)}}
	for i, o := range owned { // what the garbage collector does for --cascade=orphan
		g.Expect(k8s.Get(ctx, keys[i], o)).To(Succeed())
		patch := client.MergeFrom(o.DeepCopyObject().(client.Object))
		o.SetOwnerReferences(nil)
		g.Expect(k8s.Patch(ctx, o, patch)).To(Succeed())
	}

	again := newGroup(g, pg.Namespace, "mesh", 2)
	g.Eventually(func(g Gomega) {
		for i, o := range owned {
			g.Expect(k8s.Get(ctx, keys[i], o)).To(Succeed())
			g.Expect(metav1.IsControlledBy(o, getGroup(g, again))).To(BeTrue(), "%T not adopted", o)
		}
		got := getGroup(g, again)
		g.Expect(conditions.IsReady(got)).To(BeTrue(), "%+v", got.Status.Conditions)
		g.Expect(got.Status.ReadyReplicas).To(Equal(int32(2)), "the orphaned pods count again")
	}).WithTimeout(15 * time.Second).Should(Succeed()) // several reconciles, some after a 1 s stale-cache retry
	g.Expect(currentReplicaSet(g, again).UID).To(Equal(rs.UID), "the same ReplicaSet, so the same pods")
}

// Deleted and created again before the garbage collector has removed the old
// objects: the new group waits for them (no AlreadyExists, not Stalled) and
// comes up once they are gone.
func TestRecreatedBeforeGarbageCollectionWaits(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	rs := currentReplicaSet(g, pg)
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(pg), &corev1.Service{}) }).Should(Succeed())
	g.Expect(k8s.Delete(ctx, getGroup(g, pg))).To(Succeed())

	again := newGroup(g, pg.Namespace, "mesh", 1)
	g.Consistently(func(g Gomega) {
		got := getGroup(g, again)
		g.Expect(conditions.IsStalled(got)).To(BeFalse(), "%+v", got.Status.Conditions)
		g.Expect(conditions.GetReason(got, meta.ReadyCondition)).NotTo(Equal("ReconciliationFailed"))
	}).WithTimeout(2 * time.Second).Should(Succeed())

	// The garbage collector's part.
	for _, o := range []client.Object{&corev1.Service{}, &networkingv1.NetworkPolicy{}, &corev1.ServiceAccount{}} {
		key := client.ObjectKeyFromObject(pg)
		if _, ok := o.(*corev1.ServiceAccount); ok {
			key.Name = render.ServiceAccountName(pg)
		}
		g.Expect(k8s.Get(ctx, key, o)).To(Succeed())
		g.Expect(k8s.Delete(ctx, o)).To(Succeed())
	}
	g.Expect(k8s.Delete(ctx, rs)).To(Succeed())

	// Each deletion wakes the reconciler, but one that still saw an old object
	// in its cache retries only after staleRequeue: allow a few of those.
	startPods(g, currentReplicaSet(g, again), 1)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, again)) }).WithTimeout(10 * time.Second).Should(BeTrue())
	svc := &corev1.Service{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), svc)).To(Succeed())
	g.Expect(metav1.IsControlledBy(svc, getGroup(g, again))).To(BeTrue())
}
