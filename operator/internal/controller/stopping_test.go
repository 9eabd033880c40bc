package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
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
	// A status write to make that the manager's own reconciler does not
	// race to make first (a spec change here let it win now and then under
	// load): once it is done with the new group's objects, a stale status,
	// which it does not reconcile (it follows spec changes).
	version := func() string { return getGroup(g, pg).ResourceVersion }
	g.Eventually(func(g Gomega) {
		g.Consistently(version).WithTimeout(time.Second).Should(Equal(version()))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	stale := getGroup(g, pg)
	before := client.MergeFrom(stale.DeepCopy())
	stale.Status.ObservedGeneration = 0
	g.Expect(k8s.Status().Patch(ctx, stale, before)).To(Succeed())
	_, err := r.Reconcile(stop, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(stop.Err()).To(HaveOccurred(), "the status write was not reached")
	g.Expect(err).NotTo(HaveOccurred())

	_, err = r.Reconcile(stop, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pg)})
	g.Expect(err).NotTo(HaveOccurred(), "a reconcile started after the stop")
}
