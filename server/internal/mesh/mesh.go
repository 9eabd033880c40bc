// Package mesh pings a set of peers, each on its own jittered schedule, and
// reconciles the schedule against the desired set without disturbing the
// peers that stay.
//
// One scheduler goroutine keeps every peer in a heap ordered by its next
// ping and starts a goroutine per ping only when one is due, so an idle
// mesh of 1,000 peers costs 1,000 heap entries, not 1,000 goroutines.
package mesh

import (
	"container/heap"
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// Settings are the schedule every peer follows.
type Settings struct {
	Interval, Timeout time.Duration
}

// Mesh schedules the pings to every peer.
type Mesh struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	pinger  *Pinger
	isSelf  func(peers.Peer) bool

	mu       sync.Mutex
	ctx      context.Context
	settings Settings
	targets  map[string]*target // by peer name
	due      schedule           // targets not in flight, soonest first
	wake     chan struct{}      // nudges the scheduler after a change
	pings    sync.WaitGroup     // in-flight pings and the scheduler
	// applied: the first peer set has been applied; peers that come later
	// are new pods, checked soon (see firstPingWithin).
	applied bool
}

// target is one peer's place in the schedule.
type target struct {
	peer   peers.Peer
	record *Record // guarded by the Mesh's mu
	next   time.Time
	index  int // in the heap; -1 while a ping is in flight
	ctx    context.Context
	cancel context.CancelFunc // when the peer leaves: aborts its ping
}

// New returns a mesh that pings until ctx ends. isSelf filters the server
// itself out of every peer set.
func New(ctx context.Context, log *slog.Logger, m *metrics.Metrics, isSelf func(peers.Peer) bool) *Mesh {
	ms := &Mesh{
		log:     log,
		metrics: m,
		isSelf:  isSelf,
		pinger:  NewPinger(),
		ctx:     ctx,
		targets: map[string]*target{},
		wake:    make(chan struct{}, 1),
	}
	ms.pings.Add(1)
	go ms.schedule()
	return ms
}

// Apply makes the schedule match settings and desired, in place: peers that
// stay keep their place, new peers get a first ping soon, a settings change
// re-staggers everyone into the new interval.
func (m *Mesh) Apply(s Settings, desired []peers.Peer) {
	desired = slices.DeleteFunc(slices.Clone(desired), m.isSelf)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	now := time.Now()
	if s != m.settings {
		m.settings = s
		for _, t := range m.due {
			t.next = now.Add(stagger(s.Interval))
		}
		heap.Init(&m.due)
	}
	current := make(map[string]peers.Peer, len(m.targets))
	for name, t := range m.targets {
		current[name] = t.peer
	}
	start, stop := Diff(current, desired)
	for _, p := range stop {
		t := m.targets[p.Name]
		t.cancel()
		if t.index >= 0 {
			heap.Remove(&m.due, t.index)
		}
		delete(m.targets, p.Name)
		m.pinger.Forget(p.Address)
		m.metrics.ForgetPeer(p.Name)
		if g := m.metrics.Goldpinger; g != nil {
			g.Forget(p.HostIP, podIP(p.Address))
		}
		m.log.Info("stopped pinging "+p.Name+" ("+p.Address+")", "peer", p.Name, "address", p.Address)
	}
	spread := firstPingWithin(s.Interval, !m.applied)
	m.applied = true
	for _, p := range start {
		ctx, cancel := context.WithCancel(m.ctx)
		t := &target{peer: p, record: NewRecord(now), next: now.Add(stagger(spread)), ctx: ctx, cancel: cancel}
		m.targets[p.Name] = t
		heap.Push(&m.due, t)
		m.log.Info("now pinging "+p.Name+" ("+p.Address+")", "peer", p.Name, "address", p.Address, "interval", s.Interval)
	}
	m.metrics.Peers.Set(float64(len(m.targets)))
	if g := m.metrics.Goldpinger; g != nil {
		g.Health(m.lastPings())
	}
	m.nudge()
}

// lastPings counts the peers whose last ping succeeded and those whose last
// ping failed (peers not pinged yet are neither); m.mu held.
func (m *Mesh) lastPings() (ok, failed int) {
	for _, t := range m.targets {
		switch outcome := t.record.lastOutcome; {
		case outcome == metrics.OK:
			ok++
		case outcome != "":
			failed++
		}
	}
	return ok, failed
}

func (m *Mesh) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Links is every current peer's link record, sorted by peer name.
func (m *Mesh) Links() []peers.Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]peers.Link, 0, len(m.targets))
	for _, t := range m.targets {
		out = append(out, t.record.Link(t.peer))
	}
	slices.SortFunc(out, func(a, b peers.Link) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// Wait blocks until the scheduler and every ping have stopped (after the
// context ends).
func (m *Mesh) Wait() { m.pings.Wait() }

// schedule starts each ping when it is due.
func (m *Mesh) schedule() {
	defer m.pings.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.mu.Lock()
		now := time.Now()
		for len(m.due) > 0 && !m.due[0].next.After(now) {
			t := heap.Pop(&m.due).(*target)
			m.pings.Add(1)
			go m.ping(t, m.settings.Timeout)
		}
		wait := time.Hour
		if len(m.due) > 0 {
			wait = m.due[0].next.Sub(now)
		}
		m.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-m.ctx.Done():
			m.closeAll()
			return
		case <-m.wake:
		case <-timer.C:
		}
	}
}

func (m *Mesh) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.targets {
		t.cancel()
	}
	m.pinger.CloseIdle()
}

// ping runs one ping, then puts the peer back in the schedule (nextPing),
// unless it left meanwhile.
func (m *Mesh) ping(t *target, timeout time.Duration) {
	defer m.pings.Done()
	started := time.Now()
	r := m.pinger.Ping(t.ctx, t.peer.Address, timeout)
	if m.settle(t, started, r) {
		m.logPing(t.peer, r)
	}
}

// settle counts and records a ping and puts its peer back in the schedule;
// false when the peer left mid-ping (not its fault, and no longer ours).
func (m *Mesh) settle(t *target, started time.Time, r Result) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.ctx.Err() != nil {
		return false
	}
	now := time.Now()
	m.count(t.peer, r, now.Sub(started))
	t.record.Add(now, r)
	if segments, retransmits := t.record.tcpCounts(); segments > 0 {
		loss := min(float64(retransmits)/float64(segments), 1)
		m.metrics.Loss.WithLabelValues(t.peer.Name).Set(loss)
		if g := m.metrics.Goldpinger; g != nil {
			g.Loss(t.peer.HostIP, podIP(t.peer.Address), loss)
		}
	}
	if g := m.metrics.Goldpinger; g != nil {
		g.Health(m.lastPings())
	}
	t.next = nextPing(started, now, m.settings.Interval, t.record.failures)
	heap.Push(&m.due, t)
	m.nudge()
	return true
}

// NewPeerSpread bounds the first ping to a peer that appears after the first
// peer set: a new pod is checked within seconds, even at a 60s interval.
const NewPeerSpread = 5 * time.Second

// firstPingWithin is the window a new peer's first ping falls in: a whole
// interval for the first peer set (a restarting mesh must not ping in
// lockstep), at most NewPeerSpread for peers that come later.
func firstPingWithin(interval time.Duration, firstSet bool) time.Duration {
	if firstSet {
		return interval
	}
	return min(interval, NewPeerSpread)
}

// nextPing keeps a peer's cadence: one interval (±10%) after the start of
// its last ping, however long that ping took (a timeout must not stretch
// the interval). A first failure is confirmed sooner, min(interval/4, 1s)
// after it, so a broken link is down (peers.DownAfter failures) within
// about two timeouts instead of a whole interval more; one extra ping per
// outage, none while it lasts.
func nextPing(started, ended time.Time, interval time.Duration, failures int) time.Time {
	if failures > 0 && failures < peers.DownAfter {
		return ended.Add(min(interval/4, time.Second))
	}
	if next := started.Add(jitter(interval)); next.After(ended) {
		return next
	}
	return ended
}

func stagger(interval time.Duration) time.Duration {
	return rand.N(interval)
}

func jitter(interval time.Duration) time.Duration {
	return interval*9/10 + rand.N(interval/5+1)
}

// schedule is a min-heap of targets by next ping (container/heap).
type schedule []*target

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].next.Before(s[j].next) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].index, s[j].index = i, j
}
func (s *schedule) Push(x any) {
	t := x.(*target)
	t.index = len(*s)
	*s = append(*s, t)
}
func (s *schedule) Pop() any {
	old := *s
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	t.index = -1
	return t
}
