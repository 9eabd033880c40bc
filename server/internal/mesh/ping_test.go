package mesh

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// Ping against real HTTP servers on loopback, one per outcome.
func TestPingOutcomes(t *testing.T) {
	serve := func(h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return strings.TrimPrefix(s.URL, "http://")
	}
	pong := serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(peers.ResponderHeader, "mesh-abc")
		w.Write([]byte("pong\n"))
	})
	wrongBody := serve(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("pong")) })
	longBody := serve(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("pong\npong\n")) })
	status := serve(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "pong\n", http.StatusServiceUnavailable) })
	slow := serve(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	client := NewClient()
	for _, tc := range []struct {
		name, address, outcome, responder string
	}{
		{"pong", pong, metrics.OK, "mesh-abc"},
		{"wrong body", wrongBody, metrics.BadBody, ""},
		{"body too long", longBody, metrics.BadBody, ""},
		{"non-200", status, metrics.HTTPError, ""},
		{"too slow", slow, metrics.Timeout, ""},
		{"nobody listening", closed, metrics.Refused, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Ping(context.Background(), client, tc.address, 200*time.Millisecond)
			if r.Outcome != tc.outcome || r.Responder != tc.responder {
				t.Fatalf("Ping = %+v, want outcome %q responder %q", r, tc.outcome, tc.responder)
			}
			if (r.Err == nil) != (tc.outcome == metrics.OK) {
				t.Fatalf("Ping err = %v for outcome %s", r.Err, r.Outcome)
			}
			if tc.outcome == metrics.OK && r.RTT <= 0 {
				t.Fatalf("RTT = %v", r.RTT)
			}
		})
	}
}

func TestFormatRTT(t *testing.T) {
	if got := FormatRTT(412 * time.Microsecond); got != "0.412ms" {
		t.Fatal(got)
	}
	if got := FormatRTT(1500 * time.Millisecond); got != "1500.000ms" {
		t.Fatal(got)
	}
}
