package controller_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

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
		if _, err := a.Authorize(ctx, header, "10.0.0.1", group, ""); err != nil {
			b.Fatal(err)
		}
	}
	cached := peersapi.NewAuthenticator(env.Manager.GetClient(), env.Manager.GetCache())
	g.Eventually(func() error {
		_, err := cached.Authorize(ctx, header, "10.0.0.1", group, "")
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

// A member's fresh token (a new pod, a rotation) under a flood of 1,000
// distinct garbage tokens a second from another address, half of them
// forged copies of a real token's claims: how long its answer takes (p99,
// printed as p99-ms). The flood's tokens are refused on sight or within
// their source's review rate; the member's is reviewed at once. Also
// printed: the TokenReviews the flood cost the API server (flood-reviews/s).
func BenchmarkMemberUnderTokenFlood(b *testing.B) {
	g := NewWithT(b)
	pg := newGroup(g, namespace(b), "mesh", 1)
	pod := startPods(g, currentReplicaSet(g, pg), 1)[0]
	group := client.ObjectKeyFromObject(pg)
	auth := peersapi.NewAuthenticator(env.Manager.GetClient(), env.Manager.GetCache())
	template := mint(g, pod, peers.TokenAudience)
	g.Eventually(func() error {
		_, err := auth.Authorize(ctx, "Bearer "+template, "10.0.0.1", group, "")
		if err != nil {
			return err
		}
		return nil
	}).Should(Succeed(), "the operator's cache has the pod")

	reviews0, began := tokenReviews(g), time.Now()
	stop := make(chan struct{})
	var flood sync.WaitGroup
	flood.Go(func() {
		tick := time.NewTicker(time.Millisecond) // 1,000 a second
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			token := fmt.Sprintf("garbage-%d", i)
			if i%2 == 0 {
				token = forge(template)
			}
			flood.Go(func() { auth.Authorize(ctx, "Bearer "+token, "10.0.0.66", group, "") })
		}
	})
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		header := "Bearer " + mint(g, pod, peers.TokenAudience) // a fresh token: never cached
		source := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)     // as if each were a new pod's first poll
		start := time.Now()
		if _, err := auth.Authorize(ctx, header, source, group, ""); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	close(stop)
	flood.Wait()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100])/float64(time.Millisecond), "p99-ms")
	// The members' own reviews included: one per iteration.
	b.ReportMetric((tokenReviews(g)-reviews0-float64(len(took)))/time.Since(began).Seconds(), "flood-reviews/s")
}
