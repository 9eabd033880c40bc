package httpapi

import (
	"io"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func newServer(t *testing.T, ready *atomic.Bool) *httptest.Server {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "peering_peers 0\n") })
	links := func() peers.Links { return peers.Links{Pod: "mesh-x2bwx", Window: peers.LinkWindow} }
	s := httptest.NewServer(New("mesh-x2bwx", ready.Load, metrics, links))
	t.Cleanup(s.Close)
	return s
}

func TestPingContract(t *testing.T) {
	s := newServer(t, &atomic.Bool{})
	for _, tc := range []struct {
		method, path string
		status       int
		body, allow  string
	}{
		{"GET", "/ping", 200, "pong\n", ""},
		{"HEAD", "/ping", 200, "", ""},
		{"POST", "/ping", 405, "", "GET, HEAD"},
		{"PUT", "/ping", 405, "", "GET, HEAD"},
		{"DELETE", "/ping", 405, "", "GET, HEAD"},
		{"GET", "/pingg", 404, "", ""},
		{"GET", "/", 404, "", ""},
		{"GET", "/ping/extra", 404, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.allow != "" && resp.Header.Get("Allow") != tc.allow {
				t.Fatalf("Allow %q, want %q", resp.Header.Get("Allow"), tc.allow)
			}
			if tc.status != 200 {
				return
			}
			if string(body) != tc.body {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if who := resp.Header.Get("X-Peering-Pod"); who != "mesh-x2bwx" {
				t.Fatalf("responder header %q", who)
			}
		})
	}
}

func TestProbesAndMetrics(t *testing.T) {
	var ready atomic.Bool
	s := newServer(t, &ready)
	get := func(path string) (int, string) {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || body != "not ready: no peer set loaded yet\n" {
		t.Fatalf("/readyz before ready = %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz when ready = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || body != "peering_peers 0\n" {
		t.Fatalf("/metrics = %d %q", code, body)
	}
}
