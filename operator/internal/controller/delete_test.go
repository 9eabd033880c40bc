package controller_test

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Deleting a PeerGroup leaves its objects to the garbage collector (envtest
// has none, so the owner references are checked) and the peers API answers
// 404 for it at once.
func TestDeleteLeavesOwnedObjectsToTheGarbageCollector(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1)
	pods := startPods(g, currentReplicaSet(g, pg), 1)
	g.Eventually(func() int { code, _ := fetchPeers(g, pg, pods[0].Name); return code }).Should(Equal(http.StatusOK))
	uid := getGroup(g, pg).UID

	g.Expect(k8s.Delete(ctx, getGroup(g, pg))).To(Succeed())
	g.Eventually(func() int { code, _ := fetchPeers(g, pg, pods[0].Name); return code }).Should(Equal(http.StatusNotFound))

	owned := []client.Object{&corev1.Service{}, &networkingv1.NetworkPolicy{}}
	for _, o := range owned {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), o)).To(Succeed())
	}
	for _, rs := range replicaSets(g, pg) {
		owned = append(owned, &rs)
	}
	g.Expect(owned).To(HaveLen(3))
	for _, o := range owned {
		refs := o.GetOwnerReferences()
		g.Expect(refs).To(HaveLen(1))
		g.Expect(refs[0].UID).To(Equal(uid))
		g.Expect(*refs[0].Controller && *refs[0].BlockOwnerDeletion).To(BeTrue())
	}
}
