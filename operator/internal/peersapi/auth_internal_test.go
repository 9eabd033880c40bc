package peersapi

import (
	"encoding/base64"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

func TestExpiryIsTheTokensExpClaim(t *testing.T) {
	jwt := func(payload string) string {
		return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, tc := range []struct {
		token string
		want  time.Time
	}{
		{jwt(`{"aud":["peering.simulated-peering.io"],"exp":1764410600}`), time.Unix(1764410600, 0)},
		{jwt(`{"aud":["x"]}`), time.Time{}},
		{jwt(`not json`), time.Time{}},
		{"two.parts", time.Time{}},
		{"a.%%%.c", time.Time{}},
	} {
		if got := expiry(tc.token); !got.Equal(tc.want) {
			t.Errorf("expiry(%q) = %v, want %v", tc.token, got, tc.want)
		}
	}
}

func TestOnlyAPodBoundReviewIdentifiesAPod(t *testing.T) {
	now := time.Now()
	bound := authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{peers.TokenAudience},
		User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:mesh-peering", Extra: map[string]authenticationv1.ExtraValue{
			extraPodName: {"mesh-abc"}, extraPodUID: {"1234"}}}}
	id := fromReview(bound, now)
	if !id.ok || id.pod.Namespace != "team-a" || id.pod.Name != "mesh-abc" || id.uid != "1234" {
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
		if id := fromReview(st, now); id.ok || !id.until.Equal(now.Add(refuseFor)) {
			t.Errorf("%s: %+v, want refused for %s", name, id, refuseFor)
		}
	}
}
