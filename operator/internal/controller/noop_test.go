package controller_test

import (
	"context"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Once a group has converged, reconciling it again performs no write at all:
// every write request to the API server is counted.
func TestNoOpReconcileWritesNothing(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	startPods(g, currentReplicaSet(g, pg), 2)
	g.Eventually(func() bool { return readyCondition(g, pg).Status == "True" }).Should(BeTrue())

	var writes atomic.Int32
	count := func() { writes.Add(1) }
	r := reconcilerThrough(g, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, o, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, o runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			count()
			return c.Apply(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, o, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, o, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
	for range 3 {
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.Load()).To(BeZero(), "a converged group was written to")

	// The counter is live: a real change is a write.
	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) {
		latest.Spec.Replicas = ptrTo(int32(3))
	})
	_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(writes.Load()).To(BeNumerically(">", 0))
}

func ptrTo[T any](v T) *T { return &v }
