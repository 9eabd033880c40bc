package peers

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// LinksPath is where every server reports its links, on its ping port.
const LinksPath = "/links"

// MaxLinksBytes bounds a /links answer: MaxPeers records of ~300 bytes fit
// with room; a reader stops there.
const MaxLinksBytes = 1 << 20

// LinkWindow is how many recent pings a link record keeps.
const LinkWindow = 20

// DownAfter consecutive failures make a link down: one lost ping is noise.
const DownAfter = 2

// LinkState is a link's state as its pinger sees it.
type LinkState string

const (
	LinkUnmeasured LinkState = "unmeasured" // not pinged yet
	LinkUp         LinkState = "up"         // the last ping, or the one before, succeeded
	LinkDown       LinkState = "down"       // DownAfter or more consecutive failures
)

// Links is the body of `GET /links`: what one server knows of its peers.
type Links struct {
	Pod  string `json:"pod"`
	Node string `json:"node,omitempty"`
	// Revision of the peers document the server applies ("" with static peers).
	Revision string `json:"revision,omitempty"`
	Window   int    `json:"window"` // pings each record covers at most
	Links    []Link `json:"links"`
}

// Link is one pinger → peer record over the last Window pings.
type Link struct {
	Peer    string    `json:"peer"`
	Address string    `json:"address"`
	Node    string    `json:"node,omitempty"`
	State   LinkState `json:"state"`
	// Since is when the link entered its state.
	Since               time.Time `json:"since"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	LastOutcome         string    `json:"lastOutcome,omitempty"` // "ok", "timeout", "refused", …
	LastRTT             Duration  `json:"lastRTT"`
	// RTT quantiles over the successful pings in the window.
	RTTP50 Duration `json:"rttP50"`
	RTTP99 Duration `json:"rttP99"`
	// Loss is the failed fraction of the pings in the window (0–1).
	Loss        float64    `json:"loss"`
	Pings       int        `json:"pings"` // in the window
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	// Segments and Retransmits are the TCP data segments the pinger sent
	// for the window's successful pings (retransmissions included) and how
	// many were retransmissions (Linux TCP_INFO; both 0 where it cannot be
	// read): loss in the pinger → peer direction that TCP hid. A failed
	// ping's are left out: its outage is counted as a failure. Each ping
	// sends one request segment.
	Segments    int `json:"segments,omitempty"`
	Retransmits int `json:"retransmits,omitempty"`
	// RTTBuckets counts the window's successful pings by round-trip time:
	// bucket i holds those up to RTTBucketBounds[i] (and above the bound
	// before it), the last one those above every bound. The operator sums
	// them over a group, so its latency figures are quantiles of pooled
	// pings with their count, not a maximum of per-link quantiles.
	RTTBuckets []int `json:"rttBuckets,omitempty"`
}

// RTTBucketBounds are the upper bounds of the RTT buckets (1-2-5 steps).
var RTTBucketBounds = []time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

// RTTBucket is the bucket a round-trip time falls in.
func RTTBucket(rtt time.Duration) int {
	for i, bound := range RTTBucketBounds {
		if rtt <= bound {
			return i
		}
	}
	return len(RTTBucketBounds)
}

// MaxSegmentsPerPing bounds what a link reports per ping: a request of one
// segment retransmitted until its timeout (at most a few dozen times).
const MaxSegmentsPerPing = 64

// SegmentLoss is the fraction of the pinger's segments to the peer that
// were retransmitted, with how many segments it is over (0, 0 when none).
func (k Link) SegmentLoss() (loss float64, samples int) {
	if k.Segments == 0 {
		return 0, 0
	}
	return min(float64(k.Retransmits)/float64(k.Segments), 1), k.Segments // SYN retransmits carry no data
}

// DecodeLinks parses and validates a /links answer.
func DecodeLinks(data []byte) (Links, error) {
	if len(data) > MaxLinksBytes {
		return Links{}, fmt.Errorf("links answer of %d bytes, more than %d", len(data), MaxLinksBytes)
	}
	var l Links
	if err := json.Unmarshal(data, &l); err != nil {
		return Links{}, fmt.Errorf("decoding links: %w", err)
	}
	if err := l.Validate(); err != nil {
		return Links{}, fmt.Errorf("invalid links: %w", err)
	}
	return l, nil
}

// Validate reports the first thing wrong with a links answer.
func (l Links) Validate() error {
	switch {
	case !isDNSSubdomain(l.Pod) && !isHostPort(l.Pod):
		return fmt.Errorf("pod %q is not a valid name", l.Pod)
	case l.Node != "" && !isDNSSubdomain(l.Node):
		return fmt.Errorf("node %q is not a valid node name", l.Node)
	case l.Window < 1 || l.Window > 1000:
		return fmt.Errorf("window %d is not 1-1000", l.Window)
	case len(l.Links) > MaxPeers:
		return fmt.Errorf("%d links, more than %d", len(l.Links), MaxPeers)
	}
	seen := make(map[string]bool, len(l.Links))
	for i, k := range l.Links {
		if err := k.validate(l.Window); err != nil {
			return fmt.Errorf("links[%d] (%s): %w", i, k.Peer, err)
		}
		if seen[k.Peer] {
			return fmt.Errorf("links[%d]: peer %q appears twice", i, k.Peer)
		}
		seen[k.Peer] = true
	}
	return nil
}

func (k Link) validate(window int) error {
	switch {
	case !isDNSSubdomain(k.Peer) && !isHostPort(k.Peer):
		return fmt.Errorf("peer %q is not a valid name", k.Peer)
	case ValidateAddress(k.Address) != nil:
		return ValidateAddress(k.Address)
	case k.Node != "" && !isDNSSubdomain(k.Node):
		return fmt.Errorf("node %q is not a valid node name", k.Node)
	case k.State != LinkUp && k.State != LinkDown && k.State != LinkUnmeasured:
		return fmt.Errorf("state %q is not up, down or unmeasured", k.State)
	case k.ConsecutiveFailures < 0 || k.Pings < 0 || k.Pings > window:
		return fmt.Errorf("counts out of range (failures %d, pings %d of %d)", k.ConsecutiveFailures, k.Pings, window)
	case k.State == LinkDown && k.ConsecutiveFailures < DownAfter:
		return fmt.Errorf("down after %d failures, want at least %d", k.ConsecutiveFailures, DownAfter)
	case k.LastRTT.Duration < 0 || k.RTTP50.Duration < 0 || k.RTTP99.Duration < k.RTTP50.Duration:
		return fmt.Errorf("RTTs out of order (last %s, p50 %s, p99 %s)", k.LastRTT, k.RTTP50, k.RTTP99)
	case math.IsNaN(k.Loss) || k.Loss < 0 || k.Loss > 1:
		return fmt.Errorf("loss %v is not 0-1", k.Loss)
	case len(k.LastOutcome) > 32:
		return fmt.Errorf("last outcome %q is too long", k.LastOutcome)
	case k.Segments < 0 || k.Retransmits < 0 || k.Segments > MaxSegmentsPerPing*window || k.Retransmits > MaxSegmentsPerPing*window:
		return fmt.Errorf("TCP counts out of range (segments %d, retransmits %d, at most %d each)", k.Segments, k.Retransmits, MaxSegmentsPerPing*window)
	case len(k.RTTBuckets) > len(RTTBucketBounds)+1:
		return fmt.Errorf("%d RTT buckets, at most %d", len(k.RTTBuckets), len(RTTBucketBounds)+1)
	}
	sum := 0
	for _, n := range k.RTTBuckets {
		if n < 0 {
			return fmt.Errorf("RTT bucket count %d is negative", n)
		}
		sum += n
	}
	if sum > k.Pings {
		return fmt.Errorf("RTT buckets hold %d pings, more than the %d in the window", sum, k.Pings)
	}
	return nil
}

// isHostPort: a static peer is named by its address.
func isHostPort(s string) bool { return ValidateAddress(s) == nil }
