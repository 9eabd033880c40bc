package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/config"
	"github.com/simulated-peering/simulated-peering/server/internal/httpapi"
)

// logSink collects a server's JSON log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// messages returns every logged msg, in order.
func (s *logSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec.Msg)
		}
	}
	return out
}

// errors is how many lines were logged at level ERROR.
func (s *logSink) errors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.buf.String(), `"level":"ERROR"`)
}

// count is how many messages start with prefix.
func (s *logSink) count(prefix string) int {
	n := 0
	for _, m := range s.messages() {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

type runningServer struct {
	addr string
	log  *logSink
	stop func() error // cancels the context and returns Run's error
}

// startServer runs the server in-process on ln (or a fresh loopback port).
func startServer(t *testing.T, cfg config.Config, ln net.Listener) *runningServer {
	t.Helper()
	if ln == nil {
		ln = listen(t)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	if cfg.PingInterval == 0 {
		cfg.PingInterval, cfg.PingTimeout = 300*time.Millisecond, 200*time.Millisecond
	}
	sink := &logSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, ln, slog.New(slog.NewJSONHandler(sink, nil))) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("server %s did not stop", cfg.PodName)
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return &runningServer{addr: ln.Addr().String(), log: sink, stop: stop}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startPeer is a bare pong responder named name, on loopback.
func startPeer(t *testing.T, name string) peers.Peer {
	s := httptest.NewServer(httpapi.New(name, func() bool { return true }, http.NotFoundHandler(), func() peers.Links { return peers.Links{Pod: name, Window: 1} }))
	t.Cleanup(s.Close)
	return peers.Peer{Name: name, Address: strings.TrimPrefix(s.URL, "http://")}
}

// endpoint is a fake peers API with a real long-poll that the test reconfigures.
type endpoint struct {
	*httptest.Server
	mu       sync.Mutex
	doc      peers.Document
	mode     string // "ok", "garbage", "error" or "busy" (503 with Retry-After: 1)
	changed  chan struct{}
	requests int
	bearer   []string // each request's Authorization header
}

func newEndpoint(t *testing.T, doc peers.Document) *endpoint {
	e := &endpoint{doc: doc, mode: "ok", changed: make(chan struct{})}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

// update changes the endpoint and wakes every waiting long-poll.
func (e *endpoint) update(f func(e *endpoint)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests++
	e.bearer = append(e.bearer, r.Header.Get("Authorization"))
	doc, mode, changed := e.doc, e.mode, e.changed
	e.mu.Unlock()
	if mode == "ok" && r.Header.Get("If-None-Match") == `"`+doc.Revision+`"` {
		wait, _ := time.ParseDuration(r.URL.Query().Get(peers.WaitParam))
		select {
		case <-changed:
			e.serve(w, r) // answer with whatever it is now
		case <-time.After(wait):
			w.WriteHeader(http.StatusNotModified)
		case <-r.Context().Done():
		}
		return
	}
	switch mode {
	case "garbage":
		w.Write([]byte("<html>gateway says hi</html>"))
	case "busy":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(peers.Error{Error: "the operator is shutting down; retry"})
	case "error":
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(peers.Error{Error: "operator restarting"})
	default:
		w.Header().Set("ETag", `"`+doc.Revision+`"`)
		json.NewEncoder(w).Encode(doc)
	}
}

func (e *endpoint) authorizations() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.bearer)
}

func (e *endpoint) requestCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

func document(revision string, interval time.Duration, list ...peers.Peer) peers.Document {
	return peers.Document{Group: "test/mesh", Revision: revision, Peers: list,
		PingInterval: peers.Duration{Duration: interval}, PingTimeout: peers.Duration{Duration: interval / 2}}
}
