package controller_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// The operator stopping (an upgrade, a lost lease) while a reconcile runs
// is no error: the status write it cuts short is not the group's failure,
// and controller-runtime would log the returned error at ERROR with a
// stack trace on every routine upgrade (seen in make e2e's failover).
func TestAStopMidReconcileIsNoError(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	g.Eventually(func() bool { return readyCondition(g, pg) != nil }).Should(BeTrue())
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	r := reconcilerThrough(g, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			cancel() // the stop lands during the status write
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	})
	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) { latest.Spec.Replicas = ptrTo(int32(3)) }) // a status write to make
	_, err := r.Reconcile(stop, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(stop.Err()).To(HaveOccurred(), "the status write was not reached")
	g.Expect(err).NotTo(HaveOccurred())

	_, err = r.Reconcile(stop, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(err).NotTo(HaveOccurred(), "a reconcile started after the stop")
}
