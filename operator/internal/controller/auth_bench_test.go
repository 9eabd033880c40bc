package controller_test

import (
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
)

// What authenticating a poll costs the operator: a cached token (every poll
// of a steady mesh) against a TokenReview to the API server (a new or
// rotated token, every ~8 minutes per pod).
func BenchmarkAuthorize(b *testing.B) {
	g := NewWithT(b)
	pg := newGroup(g, namespace(b), "mesh", 1)
	pod := startPods(g, currentReplicaSet(g, pg), 1)[0]
	header := "Bearer " + mint(g, pod, peers.TokenAudience)
	group := client.ObjectKeyFromObject(pg)
	authorize := func(a *peersapi.Authenticator) {
		if _, err := a.Authorize(ctx, header, group, ""); err != nil {
			b.Fatal(err)
		}
	}
	cached := peersapi.NewAuthenticator(env.Manager.GetClient(), env.Manager.GetCache())
	g.Eventually(func() error {
		_, err := cached.Authorize(ctx, header, group, "")
		if err != nil {
			return err
		}
		return nil
	}).Should(Succeed(), "the operator's cache has the pod")
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			authorize(cached)
		}
	})
	b.Run("TokenReview", func(b *testing.B) {
		for b.Loop() {
			authorize(peersapi.NewAuthenticator(env.Manager.GetClient(), env.Manager.GetCache()))
		}
	})
}
