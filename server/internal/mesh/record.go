package mesh

import (
	"slices"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// Record is one link's rolling record over its last peers.LinkWindow
// pings. A link is up after a success, down after peers.DownAfter
// consecutive failures (one lost ping is noise), and unmeasured before
// either: no success yet and fewer failures than that.
type Record struct {
	samples     [peers.LinkWindow]sample // a ring; n of them used
	next, n     int
	state       peers.LinkState
	since       time.Time
	failures    int // consecutive
	lastOutcome string
	lastRTT     time.Duration
	lastSuccess time.Time
}

type sample struct {
	ok                    bool
	rtt                   time.Duration
	segments, retransmits int
}

// NewRecord is a link not pinged yet.
func NewRecord(now time.Time) *Record {
	return &Record{state: peers.LinkUnmeasured, since: now}
}

// Add records one ping's outcome.
func (r *Record) Add(now time.Time, res Result) {
	outcome, rtt := res.Outcome, res.RTT
	ok := outcome == metrics.OK
	r.samples[r.next] = sample{ok, rtt, res.Segments, res.Retransmits}
	r.next = (r.next + 1) % len(r.samples)
	r.n = min(r.n+1, len(r.samples))
	r.lastOutcome = outcome
	state := r.state
	if ok {
		r.failures, r.lastRTT, r.lastSuccess = 0, rtt, now
		state = peers.LinkUp
	} else {
		r.failures++
		r.lastRTT = 0
		if r.failures >= peers.DownAfter {
			state = peers.LinkDown
		}
	}
	if state != r.state {
		r.state, r.since = state, now
	}
}

// State is the link's state.
func (r *Record) State() peers.LinkState { return r.state }

// Link is the record as the /links contract writes it.
func (r *Record) Link(p peers.Peer) peers.Link {
	var rtts []time.Duration
	lost := 0
	segments, retransmits := r.tcpCounts()
	var buckets []int
	for _, s := range r.samples[:r.n] {
		if s.ok {
			rtts = append(rtts, s.rtt)
			if buckets == nil {
				buckets = make([]int, len(peers.RTTBucketBounds)+1)
			}
			buckets[peers.RTTBucket(s.rtt)]++
		} else {
			lost++
		}
	}
	slices.Sort(rtts)
	l := peers.Link{
		Peer: p.Name, Address: p.Address, Node: p.Node,
		State: r.state, Since: r.since, ConsecutiveFailures: r.failures, LastOutcome: r.lastOutcome,
		LastRTT:  peers.Duration{Duration: r.lastRTT},
		RTTP50:   peers.Duration{Duration: quantile(rtts, 0.50)},
		RTTP99:   peers.Duration{Duration: quantile(rtts, 0.99)},
		Pings:    r.n,
		Segments: segments, Retransmits: retransmits,
		RTTBuckets: buckets,
	}
	if r.n > 0 {
		l.Loss = float64(lost) / float64(r.n)
	}
	if !r.lastSuccess.IsZero() {
		t := r.lastSuccess
		l.LastSuccess = &t
	}
	return l
}

// tcpCounts sums the TCP segments and retransmits of the window's
// successful pings: a failed ping's retransmits are its outage (already
// counted as a failure), not the grey loss of a link that works, and would
// make a repaired link look lossy for a whole window.
func (r *Record) tcpCounts() (segments, retransmits int) {
	for _, s := range r.samples[:r.n] {
		if s.ok {
			segments, retransmits = segments+s.segments, retransmits+s.retransmits
		}
	}
	return segments, retransmits
}

// quantile is the nearest-rank q-quantile of sorted values (0 when none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.999999) // ceil
	return sorted[min(max(rank, 1), len(sorted))-1]
}
