package httpapi

import (
	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPing measures the /ping route through the mux, next to a bare
// handler that only writes "pong\n", so the cost of routing shows.
func BenchmarkPing(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong\n") })
	ours := New("mesh-x2bwx", func() bool { return true }, http.NotFoundHandler(), func() peers.Links { return peers.Links{} })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"server", ours}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/ping", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
