package source

import (
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// What an operator restart explains is an outage (WARN until it lasts);
// a wrong answer or a broken setup is an ERROR at once.
func TestWhatCountsAsUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/peers"
	ln.Close()
	_, refused := http.Get(closed)
	_, garbage := peers.Decode([]byte("<html>"))
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"502 from a proxy", &statusError{code: http.StatusBadGateway}, true},
		{"503 without Retry-After", &statusError{code: http.StatusServiceUnavailable}, true},
		{"504", &statusError{code: http.StatusGatewayTimeout}, true},
		{"a garbage document", garbage, false},
		{"403", &statusError{code: http.StatusForbidden}, false},
		{"500", &statusError{code: http.StatusInternalServerError}, false},
		{"an untrusted certificate", &url.Error{Op: "Get", URL: closed, Err: x509.UnknownAuthorityError{}}, false},
		{"no token", errors.New("reading the pod's token: open /var/run/token: no such file or directory"), false},
	} {
		if refused == nil {
			t.Fatal("a closed port answered")
		}
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("%s (%v): unreachable = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
