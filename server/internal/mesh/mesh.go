// Package mesh pings a set of peers, each on its own jittered schedule, and
// reconciles the running loops against the desired set without disturbing
// the peers that stay.
package mesh

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// Settings are the schedule every loop follows.
type Settings struct {
	Interval, Timeout time.Duration
}

// Mesh owns one goroutine per peer.
type Mesh struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	client  *http.Client
	isSelf  func(peers.Peer) bool

	mu       sync.Mutex
	ctx      context.Context
	settings Settings
	changed  chan struct{} // closed (and replaced) when settings change
	running  map[string]*loop
	wg       sync.WaitGroup
	// applied: the first peer set has been applied; peers that come later
	// are new pods, checked soon (see firstPingWithin).
	applied bool
}

type loop struct {
	peer   peers.Peer
	cancel context.CancelFunc
}

// New returns a mesh whose loops live until ctx ends. isSelf filters the
// server itself out of every peer set.
func New(ctx context.Context, log *slog.Logger, m *metrics.Metrics, isSelf func(peers.Peer) bool) *Mesh {
	return &Mesh{
		log:     log,
		metrics: m,
		isSelf:  isSelf,
		client:  NewClient(),
		ctx:     ctx,
		changed: make(chan struct{}),
		running: map[string]*loop{},
	}
}

// NewClient is the one keep-alive client all loops share. The per-ping
// timeout is a context deadline, so it can change without a new client.
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no global cap: one idle connection per peer
	t.MaxIdleConnsPerHost = 2
	t.IdleConnTimeout = 15 * time.Minute // outlive the longest sensible interval
	// A pong is ~150 bytes: 4 KiB buffers per kept-alive peer would be most
	// of the heap with 1,000 peers.
	t.ReadBufferSize, t.WriteBufferSize = 512, 512
	return &http.Client{Transport: t}
}

// Apply makes the running loops match settings and desired, in place.
func (m *Mesh) Apply(s Settings, desired []peers.Peer) {
	desired = slices.DeleteFunc(slices.Clone(desired), m.isSelf)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	if s != m.settings {
		m.settings = s
		close(m.changed)
		m.changed = make(chan struct{})
	}
	current := make(map[string]peers.Peer, len(m.running))
	for name, l := range m.running {
		current[name] = l.peer
	}
	start, stop := Diff(current, desired)
	for _, p := range stop {
		m.running[p.Name].cancel()
		delete(m.running, p.Name)
		m.metrics.ForgetPeer(p.Name)
		m.log.Info("stopped pinging "+p.Name+" ("+p.Address+")", "peer", p.Name, "address", p.Address)
	}
	spread := firstPingWithin(s.Interval, !m.applied)
	m.applied = true
	for _, p := range start {
		ctx, cancel := context.WithCancel(m.ctx)
		m.running[p.Name] = &loop{peer: p, cancel: cancel}
		m.wg.Add(1)
		go m.run(ctx, p, spread)
		m.log.Info("now pinging "+p.Name+" ("+p.Address+")", "peer", p.Name, "address", p.Address, "interval", s.Interval)
	}
	m.metrics.Peers.Set(float64(len(m.running)))
}

// Wait blocks until every loop has stopped (after the context ends).
func (m *Mesh) Wait() { m.wg.Wait() }

func (m *Mesh) current() (Settings, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings, m.changed
}

// NewPeerSpread bounds the first ping to a peer that appears after the first
// peer set: a new pod is checked within seconds, even at a 60s interval.
const NewPeerSpread = 5 * time.Second

// firstPingWithin is the window a new loop's first ping falls in: a whole
// interval for the first peer set (a restarting mesh must not ping in
// lockstep), at most NewPeerSpread for peers that come later.
func firstPingWithin(interval time.Duration, firstSet bool) time.Duration {
	if firstSet {
		return interval
	}
	return min(interval, NewPeerSpread)
}

// run pings one peer until ctx ends: first after a random stagger within
// spread, then every interval ±10%, so a mesh never pings in lockstep. A
// settings change re-staggers the loop into the new interval at once.
func (m *Mesh) run(ctx context.Context, p peers.Peer, spread time.Duration) {
	defer m.wg.Done()
	s, changed := m.current()
	timer := time.NewTimer(stagger(spread))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			s, changed = m.current()
			timer.Reset(stagger(s.Interval))
		case <-timer.C:
			m.ping(ctx, p, s.Timeout)
			s, changed = m.current()
			timer.Reset(jitter(s.Interval))
		}
	}
}

func stagger(interval time.Duration) time.Duration {
	return rand.N(interval)
}

func jitter(interval time.Duration) time.Duration {
	return interval*9/10 + rand.N(interval/5+1)
}
