package controller_test

import (
	"context"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	clientevents "k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// A reconcile whose cache has not yet seen the operator's own last write
// (here: a ReplicaSet read as it was before a scale) is repeated, quietly:
// no write based on the stale copy, no failure in status, no Warning and no
// second Scaled event.
func TestStaleCacheIsAQuietRequeue(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	stale := currentReplicaSet(g, pg).DeepCopy()
	startPods(g, stale, 2)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())

	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) { latest.Spec.Replicas = ptrTo(int32(3)) })
	g.Eventually(func() int32 { return *currentReplicaSet(g, pg).Spec.Replicas }).Should(Equal(int32(3)))

	// A client whose reads of that ReplicaSet lag behind: the old copy.
	r := reconcilerThrough(g, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if rs, ok := o.(*appsv1.ReplicaSet); ok && key.Name == stale.Name {
				stale.DeepCopyInto(rs)
				return nil
			}
			return c.Get(ctx, key, o, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if l, ok := list.(*appsv1.ReplicaSetList); ok {
				for i := range l.Items {
					if l.Items[i].Name == stale.Name {
						stale.DeepCopyInto(&l.Items[i])
					}
				}
			}
			return nil
		},
	})
	recorder := clientevents.NewFakeRecorder(10)
	r.EventRecorder = recorder
	result, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(result.RequeueAfter).To(BeNumerically(">", 0), "repeated")
	g.Expect(recorder.Events).To(BeEmpty())
	g.Expect(conditions.GetReason(getGroup(g, pg), meta.ReadyCondition)).NotTo(Equal("ReconciliationFailed"))
	g.Expect(*currentReplicaSet(g, pg).Spec.Replicas).To(Equal(int32(3)))
}
