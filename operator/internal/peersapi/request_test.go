package peersapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		status         int    // 0 = accepted
		want           string // error text, or "ns/name self wait"
	}{
		{"GET", "/v1/namespaces/peering-dev/peergroups/mesh/peers", 0, "peering-dev/mesh  0s"},
		{"GET", "/v1/namespaces/peering-dev/peergroups/mesh/peers?self=mesh-abc-x2bwx&wait=30s", 0, "peering-dev/mesh mesh-abc-x2bwx 30s"},
		{"HEAD", "/v1/namespaces/a/peergroups/b.c/peers?unknown=1", 0, "a/b.c  0s"},
		{"POST", "/v1/namespaces/a/peergroups/b/peers", 405, "method POST not allowed"},
		{"DELETE", "/v1/namespaces/a/peergroups/b/peers", 405, "use GET"},
		{"GET", "/v1/namespaces/a/peergroups/b", 404, "no such endpoint"},
		{"GET", "/", 404, "no such endpoint"},
		{"GET", "/v2/namespaces/a/peergroups/b/peers", 404, "no such endpoint"},
		{"GET", "/v1/namespaces/a/peergroups/b/peers/extra", 404, "no such endpoint"},
		{"GET", "/v1/namespaces/Not_A_NS/peergroups/b/peers", 400, `invalid namespace "Not_A_NS"`},
		{"GET", "/v1/namespaces/a/peergroups/-b/peers", 400, `invalid peergroup name "-b"`},
		{"GET", "/v1/namespaces//peergroups/b/peers", 400, `invalid namespace ""`},
		{"GET", "/v1/namespaces/a/peergroups/b/peers?wait=soon", 400, `invalid wait="soon": want a duration from 0s to 5m0s`},
		{"GET", "/v1/namespaces/a/peergroups/b/peers?wait=-1s", 400, `invalid wait="-1s"`},
		{"GET", "/v1/namespaces/a/peergroups/b/peers?wait=1h", 400, `invalid wait="1h"`},
		{"GET", "/v1/namespaces/a/peergroups/b/peers?self=UPPER", 400, `invalid self="UPPER"`},
		{"GET", "/v1/namespaces/a/peergroups/b/peers?self=%zz", 400, "malformed query"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			u, err := url.ParseRequestURI(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			req, aerr := ParseRequest(tc.method, u)
			if tc.status == 0 {
				if aerr != nil {
					t.Fatalf("rejected: %d %s", aerr.Status, aerr.Message)
				}
				if got := req.Group.String() + " " + req.Self + " " + req.Wait.String(); got != tc.want {
					t.Fatalf("parsed %q, want %q", got, tc.want)
				}
				return
			}
			if aerr == nil || aerr.Status != tc.status || !strings.Contains(aerr.Message, tc.want) {
				t.Fatalf("got %+v, want %d %q", aerr, tc.status, tc.want)
			}
		})
	}
}

// FuzzParseRequest: never panics, answers only 400/404/405 on errors, and
// what it accepts is a valid, bounded request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"/v1/namespaces/a/peergroups/b/peers?self=c&wait=30s", "/v1/namespaces/a/peergroups/b/peers?wait=5m1s",
		"/v1/namespaces/%2F/peergroups/b/peers", "/", "//////", "/v1/namespaces/a/peergroups/b/peers?;;&&==",
	} {
		f.Add("GET", s)
	}
	f.Add("POST", "/v1/namespaces/a/peergroups/b/peers")
	f.Fuzz(func(t *testing.T, method, target string) {
		u, err := url.Parse(target)
		if err != nil {
			return
		}
		req, aerr := ParseRequest(method, u)
		if aerr != nil {
			switch aerr.Status {
			case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
				return
			}
			t.Fatalf("status %d for %q", aerr.Status, target)
		}
		if req.Group.Namespace == "" || req.Group.Name == "" || req.Wait < 0 || req.Wait > 5*time.Minute {
			t.Fatalf("accepted %q as %+v", target, req)
		}
	})
}
