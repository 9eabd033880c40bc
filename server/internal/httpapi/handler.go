// Package httpapi serves the server's HTTP endpoints: /ping for peers,
// /links for the operator, /healthz and /readyz for the kubelet, /metrics
// for Prometheus.
package httpapi

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// New returns the server's routes. name goes into every pong's responder
// header; ready reports whether /readyz should pass; links is what /links
// answers.
func New(name string, ready func() bool, metrics http.Handler, links func() peers.Links) http.Handler {
	// /ping is the hot path: header values are built once, keys are already
	// canonical, and it skips the pattern mux (which costs ~20% of a pong).
	contentType, responder, pong := []string{"text/plain; charset=utf-8"}, []string{name}, []byte("pong\n")
	ping := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = contentType
		h[peers.ResponderHeader] = responder
		w.Write(pong)
	}
	mux := http.NewServeMux()
	// "GET" patterns also match HEAD; other methods get 405 with Allow.
	mux.HandleFunc("GET /ping", ping)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "not ready: no peer set loaded yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET "+peers.LinksPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(links())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			ping(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
