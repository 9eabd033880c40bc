package peersapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// The user info keys of a pod-bound ServiceAccount token.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// Limits of the caches, of the TokenReviews, and of what waits for them.
const (
	maxCachedTokens = 50000
	// maxRefusals bounds the tokens a review refused, kept for refuseFor:
	// a flood of them evicts its own oldest, never a member's identity.
	maxRefusals = 4096
	maxReviews  = 8
	// maxReviewWaiters bounds the requests queued for a review slot;
	// beyond it a caller is told to retry (503).
	maxReviewWaiters = 64
	// refuseFor is how long a refused token stays refused without asking
	// again: a flood of bad tokens costs the API server one review each.
	refuseFor = 10 * time.Second
	// renewBefore: a cached identity is asked about again this long before
	// its token expires.
	renewBefore = 30 * time.Second
	// cacheLag is how long a token's pod may be missing from the informer
	// cache (a pod that just started) before the token is refused; the
	// refusal is not remembered.
	cacheLag = 3 * time.Second
	// maxCacheWaiters bounds the requests waiting out cacheLag at once.
	maxCacheWaiters = 256
	// reviewsPerSecond and reviewBurst are what one source address may
	// ask for: a pod needs one review per token (the kubelet rotates it
	// every ~48 minutes), a flood from one address starves no one else.
	reviewsPerSecond = 1
	reviewBurst      = 5
	maxSources       = 10000
)

// tokenReviews counts the TokenReviews made, by outcome: a steady mesh makes
// none (each answer is cached until shortly before its token expires).
var tokenReviews = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "peering_peers_api_token_reviews_total",
	Help: "TokenReviews the peers API made to identify its callers, by result (authenticated, refused, error).",
}, []string{"result"})

// tokensRefused counts the tokens refused without a review, by reason.
var tokensRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "peering_peers_api_tokens_refused_total",
	Help: "Bearer tokens the peers API refused without a TokenReview, by reason (malformed, expired, audience, unknown-pod, rate-limited, busy).",
}, []string{"reason"})

func init() { metrics.Registry.MustRegister(tokenReviews, tokensRefused) }

// Authenticator answers "which pod is calling?" from its pod-bound
// ServiceAccount token (a TokenReview for the peers API's audience), and
// "may it read this group?" from the informer cache. A token's answer is
// cached until shortly before the token expires, so a steady mesh costs no
// API calls. What is cheap is checked first, without trusting the token: its
// shape, audience and expiry, and that the pod it names is a server pod the
// cache knows. Only then is the API server asked, within a per-source rate.
type Authenticator struct {
	Client client.Client // creates TokenReviews
	Reader client.Reader // the cache: pods, ReplicaSets, PeerGroups

	reviews      chan struct{} // review slots
	reviewQueue  chan struct{} // places in the queue for a slot
	cacheWaiters chan struct{}
	identities   *lru.Cache // token digest → identity
	refusals     *lru.Cache // token digest → time.Time until which it is refused
	sources      *lru.Cache // source address → *rate.Limiter
}

// identity is what a TokenReview said about a token.
type identity struct {
	pod   types.NamespacedName
	uid   types.UID
	until time.Time
}

// NewAuthenticator reviews tokens with c and reads members from reader.
func NewAuthenticator(c client.Client, reader client.Reader) *Authenticator {
	return &Authenticator{Client: c, Reader: reader,
		reviews: make(chan struct{}, maxReviews), reviewQueue: make(chan struct{}, maxReviewWaiters),
		cacheWaiters: make(chan struct{}, maxCacheWaiters),
		identities:   lru.New(maxCachedTokens), refusals: lru.New(maxRefusals), sources: lru.New(maxSources)}
}

// Authorize returns the calling pod's name when it is a member of group (and
// is self, when self is given): 401 without a valid pod-bound token or when
// the token's pod is gone, 403 for any other pod, 429 or 503 (with
// Retry-After) when the caller must wait its turn. Neither says whether the
// group exists. source is the caller's address, for its review rate.
func (a *Authenticator) Authorize(ctx context.Context, authorization, source string, group types.NamespacedName, self string) (string, *apiError) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" {
		return "", unauthorized("a pod-bound ServiceAccount token is required (Authorization: Bearer, audience " + peers.TokenAudience + ")")
	}
	claims, reason := readClaims(token, time.Now())
	if reason != "" {
		tokensRefused.WithLabelValues(reason).Inc()
		return "", invalidToken(" (" + reason + ")")
	}
	key := sha256.Sum256([]byte(token))
	id, err := a.identify(ctx, token, key, claims, source)
	if err != nil {
		return "", err
	}
	pod := &corev1.Pod{}
	switch err := a.Reader.Get(ctx, id.pod, pod); {
	case apierrors.IsNotFound(err) || err == nil && pod.UID != id.uid:
		a.identities.Remove(key)
		return "", unauthorized("the token's pod no longer exists")
	case err != nil:
		return "", &apiError{Status: http.StatusServiceUnavailable, Message: "the operator's cache is not ready; retry", RetryAfter: "1"}
	case !a.member(ctx, pod, group):
		return "", forbidden(group)
	case self != "" && self != pod.Name:
		return "", &apiError{Status: http.StatusForbidden, Message: "self=" + self + " is not the calling pod"}
	}
	return pod.Name, nil
}

// identify answers from the cache, or, for a token whose pod the cache
// knows, with a TokenReview.
func (a *Authenticator) identify(ctx context.Context, token string, key [sha256.Size]byte, claims podClaims, source string) (identity, *apiError) {
	now := time.Now()
	if v, ok := a.identities.Get(key); ok && now.Before(v.(identity).until) {
		return v.(identity), nil
	}
	if v, ok := a.refusals.Get(key); ok && now.Before(v.(time.Time)) {
		return identity{}, invalidToken("")
	}
	if aerr := a.waitForPod(ctx, claims); aerr != nil {
		return identity{}, aerr
	}
	if !a.allowReview(source) {
		tokensRefused.WithLabelValues("rate-limited").Inc()
		return identity{}, &apiError{Status: http.StatusTooManyRequests, Message: "too many new tokens from " + source + "; retry", RetryAfter: RetryAfterBusy}
	}
	select { // a place in the queue, or busy
	case a.reviewQueue <- struct{}{}:
		defer func() { <-a.reviewQueue }()
	default:
		tokensRefused.WithLabelValues("busy").Inc()
		return identity{}, &apiError{Status: http.StatusServiceUnavailable, Message: "too many tokens being reviewed; retry", RetryAfter: "1"}
	}
	select {
	case a.reviews <- struct{}{}:
		defer func() { <-a.reviews }()
	case <-ctx.Done():
		return identity{}, &apiError{Status: http.StatusServiceUnavailable, Message: "cannot review the token now; retry", RetryAfter: "1"}
	}
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{peers.TokenAudience}}}
	if err := a.Client.Create(ctx, review); err != nil {
		tokenReviews.WithLabelValues("error").Inc()
		if ctx.Err() == nil { // not the caller leaving, nor the operator stopping
			logf.FromContext(ctx).Error(err, "reviewing a token")
		}
		return identity{}, &apiError{Status: http.StatusServiceUnavailable, Message: "cannot review the token now; retry", RetryAfter: "1"}
	}
	id, ok := fromReview(review.Status)
	if !ok || id.pod != claims.pod || id.uid != claims.uid {
		tokenReviews.WithLabelValues("refused").Inc()
		a.refusals.Add(key, now.Add(refuseFor))
		return identity{}, invalidToken("")
	}
	tokenReviews.WithLabelValues("authenticated").Inc()
	id.until = claims.expiry.Add(-renewBefore)
	if now.Before(id.until) {
		a.identities.Add(key, id)
	}
	return id, nil
}

// waitForPod waits, up to cacheLag, for the informer cache to hold the
// server pod a token names: a pod that just started may not be there yet.
// A token naming no server pod costs no TokenReview, and its refusal is
// not remembered (the cache may have been behind).
func (a *Authenticator) waitForPod(ctx context.Context, claims podClaims) *apiError {
	select {
	case a.cacheWaiters <- struct{}{}:
		defer func() { <-a.cacheWaiters }()
	default:
		tokensRefused.WithLabelValues("busy").Inc()
		return &apiError{Status: http.StatusServiceUnavailable, Message: "too many callers waiting; retry", RetryAfter: "1"}
	}
	deadline := time.Now().Add(cacheLag)
	for {
		pod := &corev1.Pod{}
		err := a.Reader.Get(ctx, claims.pod, pod)
		if err == nil && pod.UID == claims.uid {
			return nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return &apiError{Status: http.StatusServiceUnavailable, Message: "the operator's cache is not ready; retry", RetryAfter: "1"}
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			tokensRefused.WithLabelValues("unknown-pod").Inc()
			return &apiError{Status: http.StatusForbidden, Message: "the token's pod is not a server pod this operator knows"}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// allowReview spends one of source's reviews.
func (a *Authenticator) allowReview(source string) bool {
	v, ok := a.sources.Get(source)
	if !ok {
		v = rate.NewLimiter(reviewsPerSecond, reviewBurst)
		a.sources.Add(source, v)
	}
	return v.(*rate.Limiter).Allow()
}

// podClaims is what an unverified token says of itself. It only decides
// whether a token is worth a review; the review decides who is calling.
type podClaims struct {
	pod    types.NamespacedName
	uid    types.UID
	expiry time.Time
}

// readClaims checks a token's shape without trusting it: a JWT for the
// peers API's audience, not expired, bound to a pod. The reason is "" for
// a token worth reviewing.
func readClaims(token string, now time.Time) (podClaims, string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > maxTokenBytes {
		return podClaims{}, "malformed"
	}
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	var h struct {
		Alg string `json:"alg"`
	}
	var c struct {
		Aud audience `json:"aud"`
		Exp int64    `json:"exp"`
		K8s struct {
			Namespace string `json:"namespace"`
			Pod       struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"pod"`
		} `json:"kubernetes.io"`
	}
	switch {
	case err1 != nil || err2 != nil || json.Unmarshal(header, &h) != nil || json.Unmarshal(payload, &c) != nil || h.Alg == "" || h.Alg == "none":
		return podClaims{}, "malformed"
	case !slices.Contains(c.Aud, peers.TokenAudience):
		return podClaims{}, "audience"
	case c.Exp == 0 || !now.Before(time.Unix(c.Exp, 0)):
		return podClaims{}, "expired"
	case c.K8s.Namespace == "" || c.K8s.Pod.Name == "" || c.K8s.Pod.UID == "":
		return podClaims{}, "malformed"
	}
	return podClaims{pod: types.NamespacedName{Namespace: c.K8s.Namespace, Name: c.K8s.Pod.Name},
		uid: types.UID(c.K8s.Pod.UID), expiry: time.Unix(c.Exp, 0)}, ""
}

// maxTokenBytes bounds what is decoded of a token: a ServiceAccount token
// is about 1 KiB.
const maxTokenBytes = 16 << 10

// audience is a JWT's aud claim: a string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func unauthorized(msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Message: msg}
}

// invalidToken is the 401 for a token that is no pod-bound token for the
// peers API, with why when it was refused on sight.
func invalidToken(why string) *apiError {
	return unauthorized("the token is not a valid pod-bound token for audience " + peers.TokenAudience + why)
}

func forbidden(group types.NamespacedName) *apiError {
	return &apiError{Status: http.StatusForbidden, Message: "the calling pod is not a member of peergroup " + group.String()}
}

// member: pod is controlled by a ReplicaSet that the group (this very
// object, by UID) controls. Labels alone prove nothing: anyone who can
// create a pod can copy them.
func (a *Authenticator) member(ctx context.Context, pod *corev1.Pod, group types.NamespacedName) bool {
	if pod.Namespace != group.Namespace || pod.DeletionTimestamp != nil {
		return false
	}
	rsRef := metav1.GetControllerOfNoCopy(pod)
	if rsRef == nil || rsRef.Kind != "ReplicaSet" {
		return false
	}
	rs := &appsv1.ReplicaSet{}
	if err := a.Reader.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: rsRef.Name}, rs); err != nil || rs.UID != rsRef.UID {
		return false
	}
	pgRef := metav1.GetControllerOfNoCopy(rs)
	if pgRef == nil || pgRef.Kind != "PeerGroup" || pgRef.Name != group.Name {
		return false
	}
	pg := &v1alpha1.PeerGroup{}
	return a.Reader.Get(ctx, group, pg) == nil && pg.UID == pgRef.UID
}

// fromReview reads the pod a successful review names.
func fromReview(st authenticationv1.TokenReviewStatus) (identity, bool) {
	ns, isSA := strings.CutPrefix(st.User.Username, "system:serviceaccount:")
	name, uid := st.User.Extra[extraPodName], st.User.Extra[extraPodUID]
	if !st.Authenticated || !isSA || len(name) != 1 || len(uid) != 1 || !slices.Contains(st.Audiences, peers.TokenAudience) {
		return identity{}, false
	}
	ns, _, _ = strings.Cut(ns, ":")
	return identity{pod: types.NamespacedName{Namespace: ns, Name: name[0]}, uid: types.UID(uid[0])}, true
}
