// Package httpapi serves the server's HTTP endpoints: /ping for peers,
// /healthz and /readyz for the kubelet, /metrics for Prometheus.
package httpapi

import (
	"io"
	"net/http"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// New returns the server's routes. name goes into every pong's responder
// header; ready reports whether /readyz should pass.
func New(name string, ready func() bool, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	// "GET" patterns also match HEAD; other methods get 405 with Allow.
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set(peers.ResponderHeader, name)
		io.WriteString(w, "pong\n")
	})
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
	return mux
}
