package controller_test

import (
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// `flux reconcile` sets reconcile.fluxcd.io/requestedAt; the operator
// reconciles and records the value in status.lastHandledReconcileAt.
func TestReconcileRequestAnnotationIsHonoured(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	g.Eventually(func() int64 { return getGroup(g, pg).Status.ObservedGeneration }).Should(Equal(int64(1)))

	latest := getGroup(g, pg)
	patch := client.MergeFrom(latest.DeepCopy())
	latest.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "2026-11-25T23:00:00Z"}
	g.Expect(k8s.Patch(ctx, latest, patch)).To(Succeed())
	g.Eventually(func() string { return getGroup(g, pg).Status.LastHandledReconcileAt }).Should(Equal("2026-11-25T23:00:00Z"))
}
