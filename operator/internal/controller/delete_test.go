package controller_test

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// Deleting a PeerGroup leaves its objects to the garbage collector (envtest
// has none, so the owner references are checked) and the peers API refuses
// its pods at once (403: they are members of no group any more).
func TestDeleteLeavesOwnedObjectsToTheGarbageCollector(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	pods := startPods(g, currentReplicaSet(g, pg), 1)
	g.Eventually(func() int { code, _ := fetchPeers(g, pg, pods[0].Name); return code }).Should(Equal(http.StatusOK))
	uid := getGroup(g, pg).UID

	g.Expect(k8s.Delete(ctx, getGroup(g, pg))).To(Succeed())
	g.Eventually(func() int { code, _ := fetchPeers(g, pg, pods[0].Name); return code }).Should(Equal(http.StatusForbidden))

	owned := []client.Object{&corev1.Service{}, &networkingv1.NetworkPolicy{}, &corev1.ServiceAccount{}}
	for i, name := range []string{pg.Name, pg.Name, render.ServiceAccountName(pg)} {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: pg.Namespace, Name: name}, owned[i])).To(Succeed())
	}
	for _, rs := range replicaSets(g, pg) {
		owned = append(owned, &rs)
	}
	g.Expect(owned).To(HaveLen(4))
	for _, o := range owned {
		refs := o.GetOwnerReferences()
		g.Expect(refs).To(HaveLen(1))
		g.Expect(refs[0].UID).To(Equal(uid))
		g.Expect(*refs[0].Controller && *refs[0].BlockOwnerDeletion).To(BeTrue())
	}
}
