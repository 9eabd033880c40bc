package controller_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// askPeers calls the peers API for pg with a bearer token ("" for none).
func askPeers(g Gomega, pg *v1alpha1.PeerGroup, token, query string) (int, peers.Document, http.Header) {
	req, err := http.NewRequest(http.MethodGet, env.PeersURL+peers.Path(pg.Namespace, pg.Name)+query, nil)
	g.Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc peers.Document
	if resp.StatusCode == http.StatusOK {
		g.Expect(json.Unmarshal(body, &doc)).To(Succeed())
	}
	return resp.StatusCode, doc, resp.Header
}

func mint(g Gomega, pod *corev1.Pod, audience string) string {
	token, err := testenv.PodToken(ctx, k8s, pod, audience)
	g.Expect(err).NotTo(HaveOccurred())
	return token
}

// tokenReviews reads the operator's count of TokenReviews.
func tokenReviews(g Gomega) float64 {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() == "peering_peers_api_token_reviews_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// The peers API answers a member pod, shown by its pod-bound token, with its
// own view; any other pod gets 403, a caller without a valid token for a
// live pod 401, and neither says whether the group exists. Answers are
// cached per token: polling costs no TokenReview.
func TestPeersAPIAnswersMembersWithTheirOwnView(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	pg := newGroup(g, ns, "mesh", 3)
	rs := currentReplicaSet(g, pg)
	pods := startPods(g, rs, 3)
	member := mint(g, pods[0], peers.TokenAudience)

	g.Eventually(func() []string {
		_, doc, _ := askPeers(g, pg, member, "")
		return peerNames(doc)
	}).Should(ConsistOf(pods[1].Name, pods[2].Name), "its own view, self left out, without ?self=")
	code, _, _ := askPeers(g, pg, member, "?self="+pods[0].Name)
	g.Expect(code).To(Equal(http.StatusOK), "self may be given when it is the caller")
	code, _, _ = askPeers(g, pg, member, "?self="+pods[1].Name)
	g.Expect(code).To(Equal(http.StatusForbidden), "posing as another pod")

	// A steady mesh: polls answered from the cache.
	before := tokenReviews(g)
	for range 20 {
		code, _, _ := askPeers(g, pg, member, "")
		g.Expect(code).To(Equal(http.StatusOK))
	}
	g.Expect(tokenReviews(g)).To(Equal(before), "TokenReviews for a token already reviewed")

	// Another group's pod, in another namespace: 403, whether or not the
	// group asked for exists.
	other := newGroup(g, namespace(t), "other", 1)
	stranger := mint(g, startPods(g, currentReplicaSet(g, other), 1)[0], peers.TokenAudience)
	code, _, _ = askPeers(g, pg, stranger, "")
	g.Expect(code).To(Equal(http.StatusForbidden))
	missing := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-such-group"}}
	code, _, _ = askPeers(g, missing, stranger, "")
	g.Expect(code).To(Equal(http.StatusForbidden), "same answer for a group that does not exist")

	// A pod that copies the group's labels and ServiceAccount but is not
	// the group's: 403.
	copycat := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "copycat", Labels: rs.Spec.Template.Labels},
		Spec: rs.Spec.Template.Spec}
	g.Expect(k8s.Create(ctx, copycat)).To(Succeed())
	g.Expect(testenv.MarkReady(ctx, k8s, copycat, "10.88.99.9")).To(Succeed())
	code, _, _ = askPeers(g, pg, mint(g, copycat, peers.TokenAudience), "")
	g.Expect(code).To(Equal(http.StatusForbidden))

	// A valid token of a pod that is no server at all: 403 (once the cache
	// has had time to catch up), and polling with it costs no TokenReview.
	outsider := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "outsider", Labels: map[string]string{"app": "outsider"}},
		Spec: rs.Spec.Template.Spec}
	g.Expect(k8s.Create(ctx, outsider)).To(Succeed())
	outsiderToken := mint(g, outsider, peers.TokenAudience)
	code, _, _ = askPeers(g, pg, outsiderToken, "")
	g.Expect(code).To(Equal(http.StatusForbidden))
	before = tokenReviews(g)
	for range 3 {
		code, _, _ := askPeers(g, pg, outsiderToken, "")
		g.Expect(code).To(Equal(http.StatusForbidden))
	}
	g.Expect(tokenReviews(g)).To(Equal(before), "TokenReviews for a known outsider")

	// No token, a garbage one, another audience: 401.
	for name, token := range map[string]string{
		"no token":         "",
		"garbage":          "not-a-token",
		"another audience": mint(g, pods[1], "https://kubernetes.default.svc"),
	} {
		code, _, header := askPeers(g, pg, token, "")
		g.Expect(code).To(Equal(http.StatusUnauthorized), name)
		g.Expect(header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"), name)
	}
	code, _, _ = askPeers(g, missing, "", "")
	g.Expect(code).To(Equal(http.StatusUnauthorized), "no token, no answer about any group")

	// A pod deleted and created again under the same name (a new UID): the
	// old pod's token, though cached as valid, is refused.
	old := pods[2]
	oldToken := mint(g, old, peers.TokenAudience)
	code, _, _ = askPeers(g, pg, oldToken, "")
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(k8s.Delete(ctx, old, client.GracePeriodSeconds(0))).To(Succeed())
	g.Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(old), &corev1.Pod{}) }).ShouldNot(Succeed())
	again, err := testenv.ReadyPod(ctx, k8s, rs, old.Name, "10.88.99.10")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.UID).NotTo(Equal(old.UID))
	g.Eventually(func() int { code, _, _ := askPeers(g, pg, oldToken, ""); return code }).Should(Equal(http.StatusUnauthorized))
	code, _, _ = askPeers(g, pg, mint(g, again, peers.TokenAudience), "")
	g.Expect(code).To(Equal(http.StatusOK), "the new pod's own token works")
}

// resign re-issues token with its claims changed, signed with the API
// server's own ServiceAccount key (ES256 or RS256, as the token says).
func resign(g Gomega, token string, change func(claims map[string]any)) string {
	parts := strings.Split(token, ".")
	g.Expect(parts).To(HaveLen(3))
	var header struct {
		Alg string `json:"alg"`
	}
	claims := map[string]any{}
	for i, into := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(json.Unmarshal(b, into)).To(Succeed())
	}
	change(claims)
	payload, err := json.Marshal(claims)
	g.Expect(err).NotTo(HaveOccurred())
	signed := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
	signer, err := env.ServiceAccountSigner()
	g.Expect(err).NotTo(HaveOccurred())
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch key := signer.(type) {
	case *ecdsa.PrivateKey:
		g.Expect(header.Alg).To(Equal("ES256"))
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		g.Expect(err).NotTo(HaveOccurred())
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case *rsa.PrivateKey:
		g.Expect(header.Alg).To(Equal("RS256"))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		g.Expect(err).NotTo(HaveOccurred())
	default:
		g.Expect(key).To(BeNil(), "a key type this test does not sign with")
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// An expired token is refused (401). The TokenRequest API mints nothing
// shorter than 10 minutes, so the test signs one as the API server would:
// the same claims re-signed are accepted, the same with exp in the past are
// not.
func TestAnExpiredTokenIsRefused(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	pods := startPods(g, currentReplicaSet(g, pg), 2)
	token := mint(g, pods[0], peers.TokenAudience)

	same := resign(g, token, func(map[string]any) {})
	g.Eventually(func() int { code, _, _ := askPeers(g, pg, same, ""); return code }).Should(Equal(http.StatusOK), "re-signed as issued: accepted")
	past := time.Now().Add(-time.Hour).Unix()
	expired := resign(g, token, func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = past-600, past-600, past })
	code, _, _ := askPeers(g, pg, expired, "")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
}
