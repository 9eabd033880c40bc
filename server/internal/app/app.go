// Package app wires the server together: HTTP endpoints, the mesh of ping
// loops and, with PEERS_URL, the poller that feeds it.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/config"
	"github.com/simulated-peering/simulated-peering/server/internal/httpapi"
	"github.com/simulated-peering/simulated-peering/server/internal/mesh"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
	"github.com/simulated-peering/simulated-peering/server/internal/source"
)

// DrainTimeout bounds how long in-flight requests may take at shutdown.
const DrainTimeout = 5 * time.Second

// Run serves on ln and pings until ctx ends, then drains and returns nil.
func Run(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	if cfg.MetricsCompat == "goldpinger" {
		m.Goldpinger = metrics.NewGoldpinger(reg, cfg.NodeName)
	}

	pingCtx, stopPinging := context.WithCancel(ctx)
	defer stopPinging()
	pingers := mesh.New(pingCtx, log, m, selfMatcher(cfg))

	var ready atomic.Bool
	var revision atomic.Pointer[string] // of the peers document applied
	links := func() peers.Links {
		l := peers.Links{Pod: cfg.PodName, Node: cfg.NodeName, Window: peers.LinkWindow, Links: pingers.Links()}
		if r := revision.Load(); r != nil {
			l.Revision = *r
		}
		return l
	}
	srv := &http.Server{
		Handler:           countPings(httpapi.New(cfg.PodName, ready.Load, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), links), m.Goldpinger),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       20 * time.Minute, // peers keep one connection each between pings
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	log.Info("server listening", "address", ln.Addr().String(), "pod", cfg.PodName)

	if cfg.PeersURL == "" {
		pingers.Apply(meshSettings(cfg.PingInterval, cfg.PingTimeout), cfg.StaticPeers)
		ready.Store(true)
	} else {
		poller := &source.Poller{URL: cfg.PeersURL, Self: cfg.PodName, TokenFile: cfg.TokenFile, Log: log, Metrics: m,
			OutageErrorAfter: cfg.OutageError,
			Apply: func(doc peers.Document) {
				pingers.Apply(meshSettings(doc.PingInterval.Duration, doc.PingTimeout.Duration), doc.Peers)
				revision.Store(&doc.Revision)
				ready.Store(true)
			}}
		go poller.Run(pingCtx)
	}

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: stopping pings, draining requests")
	ready.Store(false)
	stopPinging()
	pingers.Wait()
	drainCtx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("stopped")
	return nil
}

func meshSettings(interval, timeout time.Duration) mesh.Settings {
	return mesh.Settings{Interval: interval, Timeout: timeout}
}

// selfMatcher recognises this server in a peer list: by pod name, or by an
// address that is one of this machine's own IPs (or POD_IP) on our port.
func selfMatcher(cfg config.Config) func(peers.Peer) bool {
	port := strconv.Itoa(cfg.Port)
	own := map[string]bool{"localhost:" + port: true}
	if cfg.PodIP != "" {
		own[net.JoinHostPort(cfg.PodIP, port)] = true
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok {
				own[net.JoinHostPort(ipnet.IP.String(), port)] = true
			}
		}
	}
	return func(p peers.Peer) bool { return p.Name == cfg.PodName || own[p.Address] }
}

// countPings counts the pings answered, for goldpinger's stats (g nil: no
// wrapper, the /ping path stays as fast as it is).
func countPings(h http.Handler, g *metrics.Goldpinger) http.Handler {
	if g == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/ping" {
			g.Received()
		}
	})
}
