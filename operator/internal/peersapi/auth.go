package peersapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

// Limits of the token cache and of the TokenReviews in flight.
const (
	maxCachedTokens = 50000
	maxReviews      = 8
	// refuseFor is how long a refused token stays refused without asking
	// again: a flood of bad tokens costs the API server one review each.
	refuseFor = 10 * time.Second
	// renewBefore: a cached identity is asked about again this long before
	// its token expires.
	renewBefore = 30 * time.Second
)

// tokenReviews counts the TokenReviews made, by outcome: a steady mesh makes
// none (each answer is cached until shortly before its token expires).
var tokenReviews = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "peering_peers_api_token_reviews_total",
	Help: "TokenReviews the peers API made to identify its callers, by result (authenticated, refused, error).",
}, []string{"result"})

func init() { metrics.Registry.MustRegister(tokenReviews) }

// Authenticator answers "which pod is calling?" from its pod-bound
// ServiceAccount token (a TokenReview for the peers API's audience), and
// "may it read this group?" from the informer cache. A token's answer is
// cached until shortly before the token expires, so a steady mesh costs no
// API calls.
type Authenticator struct {
	Client client.Client // creates TokenReviews
	Reader client.Reader // the cache: pods, ReplicaSets, PeerGroups

	reviews chan struct{}
	mu      sync.Mutex
	cache   map[[sha256.Size]byte]identity
}

// identity is what a TokenReview said about a token.
type identity struct {
	pod types.NamespacedName
	uid types.UID
	ok  bool // authenticated, bound to a pod
	// outsider: the pod is not a server pod this operator knows (a valid
	// token of any other pod), remembered for refuseFor.
	outsider bool
	until    time.Time
}

// NewAuthenticator reviews tokens with c and reads members from reader.
func NewAuthenticator(c client.Client, reader client.Reader) *Authenticator {
	return &Authenticator{Client: c, Reader: reader, reviews: make(chan struct{}, maxReviews),
		cache: map[[sha256.Size]byte]identity{}}
}

// Authorize returns the calling pod's name when it is a member of group (and
// is self, when self is given): 401 without a valid pod-bound token or when
// the token's pod is gone, 403 for any other pod. Neither says whether the
// group exists.
func (a *Authenticator) Authorize(ctx context.Context, authorization string, group types.NamespacedName, self string) (string, *apiError) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" {
		return "", unauthorized("a pod-bound ServiceAccount token is required (Authorization: Bearer, audience " + peers.TokenAudience + ")")
	}
	return a.authorize(ctx, token, sha256.Sum256([]byte(token)), group, self)
}

// authorize is Authorize for a token and its cache key.
func (a *Authenticator) authorize(ctx context.Context, token string, key [sha256.Size]byte, group types.NamespacedName, self string) (string, *apiError) {
	id, fresh, err := a.identify(ctx, token, key)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reviewing a token")
		return "", &apiError{http.StatusServiceUnavailable, "cannot review the token now; retry"}
	}
	switch {
	case !id.ok:
		return "", unauthorized("the token is not a valid pod-bound token for audience " + peers.TokenAudience)
	case id.outsider:
		return "", forbidden(group)
	}
	pod := &corev1.Pod{}
	err = a.Reader.Get(ctx, id.pod, pod)
	if (apierrors.IsNotFound(err) || (err == nil && pod.UID != id.uid)) && !fresh {
		// Cached for a pod that may be gone: ask the API server again.
		a.forget(key)
		return a.authorize(ctx, token, key, group, self)
	}
	switch {
	case apierrors.IsNotFound(err) && fresh:
		// Valid, but not a server pod this operator knows: say so without
		// a TokenReview per request for a while.
		id.outsider, id.until = true, time.Now().Add(refuseFor)
		a.remember(key, id, time.Now())
		return "", forbidden(group)
	case err != nil:
		return "", &apiError{http.StatusServiceUnavailable, "the operator's cache is not ready; retry"}
	case pod.UID != id.uid:
		return "", unauthorized("the token's pod no longer exists")
	case !a.member(ctx, pod, group):
		return "", forbidden(group)
	case self != "" && self != pod.Name:
		return "", &apiError{http.StatusForbidden, "self=" + self + " is not the calling pod"}
	}
	return pod.Name, nil
}

func unauthorized(msg string) *apiError { return &apiError{http.StatusUnauthorized, msg} }

func forbidden(group types.NamespacedName) *apiError {
	return &apiError{http.StatusForbidden, "the calling pod is not a member of peergroup " + group.String()}
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

// identify reviews the token, or answers from the cache (fresh=false).
func (a *Authenticator) identify(ctx context.Context, token string, key [sha256.Size]byte) (id identity, fresh bool, err error) {
	now := time.Now()
	a.mu.Lock()
	id, cached := a.cache[key]
	a.mu.Unlock()
	if cached && now.Before(id.until) {
		return id, false, nil
	}
	select {
	case a.reviews <- struct{}{}:
		defer func() { <-a.reviews }()
	case <-ctx.Done():
		return identity{}, false, ctx.Err()
	}
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{peers.TokenAudience}}}
	if err := a.Client.Create(ctx, review); err != nil {
		tokenReviews.WithLabelValues("error").Inc()
		return identity{}, false, err
	}
	id = fromReview(review.Status, now)
	tokenReviews.WithLabelValues(map[bool]string{true: "authenticated", false: "refused"}[id.ok]).Inc()
	if id.ok {
		id.until = expiry(token).Add(-renewBefore)
	}
	a.remember(key, id, now)
	return id, true, nil
}

// fromReview reads the pod a successful review names; anything else is a
// refusal, remembered for refuseFor.
func fromReview(st authenticationv1.TokenReviewStatus, now time.Time) identity {
	refused := identity{until: now.Add(refuseFor)}
	ns, isSA := strings.CutPrefix(st.User.Username, "system:serviceaccount:")
	name, uid := st.User.Extra[extraPodName], st.User.Extra[extraPodUID]
	if !st.Authenticated || !isSA || len(name) != 1 || len(uid) != 1 || !slices.Contains(st.Audiences, peers.TokenAudience) {
		return refused
	}
	ns, _, _ = strings.Cut(ns, ":")
	return identity{pod: types.NamespacedName{Namespace: ns, Name: name[0]}, uid: types.UID(uid[0]), ok: true}
}

// expiry is the token's exp claim; zero when it has none. Read only after
// the API server has vouched for the token.
func expiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}

// remember caches id while it is valid, within maxCachedTokens.
func (a *Authenticator) remember(key [sha256.Size]byte, id identity, now time.Time) {
	if !now.Before(id.until) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxCachedTokens {
		for k, v := range a.cache {
			if !now.Before(v.until) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= maxCachedTokens {
			return // full of live tokens: review this one each time
		}
	}
	a.cache[key] = id
}

func (a *Authenticator) forget(key [sha256.Size]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.cache, key)
}
