package peersapi

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// What a token says of itself decides only whether it is worth a review:
// a JWT for the peers API's audience, not expired, bound to a pod.
func TestOnlyAPlausiblePodTokenIsWorthAReview(t *testing.T) {
	now := time.Unix(1764410000, 0)
	jwt := func(header, payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc([]byte(payload)) + ".c2ln"
	}
	const rs = `{"alg":"RS256"}`
	pod := `"kubernetes.io":{"namespace":"team-a","pod":{"name":"mesh-abc","uid":"1234"}}`
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"pod-bound", jwt(rs, `{"aud":["peering.simulated-peering.io"],"exp":1764410600,`+pod+`}`), ""},
		{"aud as a string", jwt(rs, `{"aud":"peering.simulated-peering.io","exp":1764410600,`+pod+`}`), ""},
		{"garbage", "hello", "malformed"},
		{"two parts", "a.b", "malformed"},
		{"not base64", "a.%%%.c", "malformed"},
		{"payload not json", jwt(rs, `not json`), "malformed"},
		{"alg none", jwt(`{"alg":"none"}`, `{"aud":["peering.simulated-peering.io"],"exp":1764410600,`+pod+`}`), "malformed"},
		{"another audience", jwt(rs, `{"aud":["https://kubernetes.default.svc"],"exp":1764410600,`+pod+`}`), "audience"},
		{"expired", jwt(rs, `{"aud":["peering.simulated-peering.io"],"exp":1764409999,`+pod+`}`), "expired"},
		{"no expiry", jwt(rs, `{"aud":["peering.simulated-peering.io"],`+pod+`}`), "expired"},
		{"not pod-bound", jwt(rs, `{"aud":["peering.simulated-peering.io"],"exp":1764410600}`), "malformed"},
		{"huge", jwt(rs, `{"x":"`+strings.Repeat("a", maxTokenBytes)+`"}`), "malformed"},
	} {
		claims, reason := readClaims(tc.token, now)
		if reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.reason)
		}
		if reason == "" && (claims.pod.Namespace != "team-a" || claims.pod.Name != "mesh-abc" || claims.uid != "1234" || !claims.expiry.Equal(time.Unix(1764410600, 0))) {
			t.Errorf("%s: claims %+v", tc.name, claims)
		}
	}
}

func TestOnlyAPodBoundReviewIdentifiesAPod(t *testing.T) {
	bound := authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{peers.TokenAudience},
		User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:mesh-peering", Extra: map[string]authenticationv1.ExtraValue{
			extraPodName: {"mesh-abc"}, extraPodUID: {"1234"}}}}
	id, ok := fromReview(bound)
	if !ok || id.pod.Namespace != "team-a" || id.pod.Name != "mesh-abc" || id.uid != "1234" {
		t.Fatalf("a pod-bound token: %+v", id)
	}
	for name, change := range map[string]func(*authenticationv1.TokenReviewStatus){
		"not authenticated": func(s *authenticationv1.TokenReviewStatus) { s.Authenticated = false },
		"another audience":  func(s *authenticationv1.TokenReviewStatus) { s.Audiences = []string{"api"} },
		"a user":            func(s *authenticationv1.TokenReviewStatus) { s.User.Username = "alice" },
		"not pod-bound":     func(s *authenticationv1.TokenReviewStatus) { s.User.Extra = nil },
	} {
		st := bound
		st.User.Extra = map[string]authenticationv1.ExtraValue{extraPodName: {"mesh-abc"}, extraPodUID: {"1234"}}
		change(&st)
		if _, ok := fromReview(st); ok {
			t.Errorf("%s: identified", name)
		}
	}
}
