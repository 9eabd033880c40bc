package controller_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// forge is token with its claims kept and its signature replaced: it
// passes every check but the API server's.
func forge(token string) string {
	sig := make([]byte, 64)
	rand.Read(sig)
	for i := len(token) - 1; i >= 0; i-- {
		if token[i] == '.' {
			return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
		}
	}
	return token
}

// Distinct garbage tokens cost no TokenReview: what is not a JWT for the
// peers API's audience, unexpired and bound to a known server pod is
// refused on sight. Forged tokens that pass those checks are reviewed
// within their source's rate (then 429 with Retry-After), and a member
// calling from elsewhere is answered meanwhile. Before, each distinct
// token cost a review, held one of 8 review slots and a place in a
// 50,000-entry cache that every lookup scanned when full.
func TestGarbageTokensCostNoReview(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	pods := startPods(g, currentReplicaSet(g, pg), 2)
	group := client.ObjectKeyFromObject(pg)
	auth := peersapi.NewAuthenticator(env.Manager.GetClient(), env.Manager.GetCache())
	member := mint(g, pods[0], peers.TokenAudience)
	expired := resign(g, member, func(c map[string]any) {
		past := time.Now().Add(-time.Hour).Unix()
		c["iat"], c["nbf"], c["exp"] = past-600, past-600, past
	})
	otherAudience := mint(g, pods[1], "https://kubernetes.default.svc")

	before := tokenReviews(g)
	for i := range 300 {
		token := []string{fmt.Sprintf("garbage-%d", i), expired + fmt.Sprint(i%10), otherAudience}[i%3]
		_, aerr := auth.Authorize(ctx, "Bearer "+token, "10.0.0.66", group, "")
		g.Expect(aerr).NotTo(BeNil())
		g.Expect(aerr.Error()).To(ContainSubstring("not a valid pod-bound token"))
	}
	g.Expect(tokenReviews(g)).To(Equal(before), "garbage tokens were reviewed")

	limited := 0
	for range 20 {
		_, aerr := auth.Authorize(ctx, "Bearer "+forge(member), "10.0.0.66", group, "")
		g.Expect(aerr).NotTo(BeNil())
		if aerr.Error() == "too many new tokens from 10.0.0.66; retry" {
			limited++
		}
	}
	g.Expect(tokenReviews(g)-before).To(BeNumerically("<=", 6), "one source's forged tokens were all reviewed")
	g.Expect(limited).To(BeNumerically(">=", 14))
	caller, aerr := auth.Authorize(ctx, "Bearer "+member, "10.0.0.2", group, "")
	g.Expect(aerr).To(BeNil())
	g.Expect(caller).To(Equal(pods[0].Name))
}

// A member whose pod the operator's cache has not seen yet (informer lag)
// is answered once the cache catches up, and its token is not remembered
// as refused. Before, it was cached as an outsider and refused for 10 s,
// delaying Ready and every roll step. The lag is made real: the pod is
// created without the server label the operator's pod cache selects, and
// given it while its first poll waits.
func TestAPodTheCacheHasNotSeenYetIsWaitedFor(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	rs := currentReplicaSet(g, pg)
	startPods(g, rs, 1)
	pod, err := testenv.ScheduledPod(ctx, k8s, rs, "mesh-late")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(testenv.MarkReady(ctx, k8s, pod, "10.88.77.7")).To(Succeed())
	unlabel := client.MergeFrom(pod.DeepCopy())
	delete(pod.Labels, render.LabelName)
	g.Expect(k8s.Patch(ctx, pod, unlabel)).To(Succeed())
	g.Eventually(func() error {
		return env.Manager.GetCache().Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
	}).ShouldNot(Succeed(), "the operator's cache still holds the unlabelled pod")
	token := mint(g, pod, peers.TokenAudience)

	answered := make(chan int, 1)
	go func() {
		code, _, _ := askPeers(g, pg, token, "")
		answered <- code
	}()
	time.Sleep(500 * time.Millisecond)
	relabel := client.MergeFrom(pod.DeepCopy())
	pod.Labels[render.LabelName] = render.ServerName
	g.Expect(k8s.Patch(ctx, pod, relabel)).To(Succeed())
	g.Eventually(answered).WithTimeout(10 * time.Second).Should(Receive(Equal(http.StatusOK)))
	code, _, _ := askPeers(g, pg, token, "")
	g.Expect(code).To(Equal(http.StatusOK))
}
