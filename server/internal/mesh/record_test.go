package mesh

import (
	"slices"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

// The state machine: unmeasured until a success or DownAfter failures; one
// failure after a success keeps it up; since moves only on a change.
func TestRecordStates(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		name     string
		outcomes []string
		want     peers.LinkState
		since    int // seconds after t0 (the i-th ping is at i+1)
		failures int
	}{
		{"never pinged", nil, peers.LinkUnmeasured, 0, 0},
		{"one failure is not enough", []string{metrics.Timeout}, peers.LinkUnmeasured, 0, 1},
		{"two failures", []string{metrics.Timeout, metrics.Refused}, peers.LinkDown, 2, 2},
		{"a success", []string{metrics.OK}, peers.LinkUp, 1, 0},
		{"one lost ping is noise", []string{metrics.OK, metrics.Timeout}, peers.LinkUp, 1, 1},
		{"down after two", []string{metrics.OK, metrics.OK, metrics.Timeout, metrics.Timeout, metrics.Timeout}, peers.LinkDown, 4, 3},
		{"back up", []string{metrics.Timeout, metrics.Timeout, metrics.OK}, peers.LinkUp, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecord(t0)
			for i, o := range tc.outcomes {
				r.Add(at(i+1), Result{Outcome: o, RTT: time.Millisecond})
			}
			l := r.Link(peers.Peer{Name: "b", Address: "10.0.0.2:8080"})
			if l.State != tc.want || !l.Since.Equal(at(tc.since)) || l.ConsecutiveFailures != tc.failures {
				t.Fatalf("state %s since +%s, %d failures; want %s since +%ds, %d", l.State, l.Since.Sub(t0), l.ConsecutiveFailures, tc.want, tc.since, tc.failures)
			}
			if err := (peers.Links{Pod: "a", Window: peers.LinkWindow, Links: []peers.Link{l}}).Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The window keeps the last LinkWindow pings: loss and quantiles over them.
func TestRecordWindow(t *testing.T) {
	now := time.Now()
	r := NewRecord(now)
	for i := range 30 { // 30 pings: the first 10 fall out of the window
		outcome := metrics.OK
		if i < 10 || i%5 == 0 {
			outcome = metrics.Timeout
		}
		r.Add(now, Result{Outcome: outcome, RTT: time.Duration(i) * time.Millisecond, Segments: 1 + i%3, Retransmits: i % 3})
	}
	l := r.Link(peers.Peer{Name: "b", Address: "10.0.0.2:8080"})
	// The 16 successes by bucket: 11–14 and 16–19 ms up to 20 ms; 21–24
	// and 26–29 ms up to 50 ms.
	want := make([]int, len(peers.RTTBucketBounds)+1)
	want[peers.RTTBucket(20*time.Millisecond)], want[peers.RTTBucket(50*time.Millisecond)] = 8, 8
	if !slices.Equal(l.RTTBuckets, want) {
		t.Fatalf("buckets %v, want %v", l.RTTBuckets, want)
	}
	// TCP counts of the successful pings only (a failed ping's retransmits
	// are its outage): pings 10–29 retransmit i%3 (seven 1s and seven 2s,
	// 21) of 1+i%3 segments (41), less the failed 10, 15, 20 and 25 (4 of 8).
	if l.Retransmits != 21-4 || l.Segments != 41-8 {
		t.Fatalf("segments %d retransmits %d, want 33 and 17", l.Segments, l.Retransmits)
	}
	// In the window: pings 10–29, of which 10, 15, 20, 25 failed.
	if l.Pings != peers.LinkWindow || l.Loss != 4.0/20 {
		t.Fatalf("pings %d loss %v, want 20 and 0.2", l.Pings, l.Loss)
	}
	// RTTs of the 16 successes: 11–14, 16–19, 21–24, 26–29 ms.
	if l.RTTP50.Duration != 19*time.Millisecond || l.RTTP99.Duration != 29*time.Millisecond || l.LastRTT.Duration != 29*time.Millisecond {
		t.Fatalf("p50 %s p99 %s last %s", l.RTTP50, l.RTTP99, l.LastRTT)
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2), 0.5, time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
	} {
		if got := quantile(tc.values, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %s, want %s", tc.values, tc.q, got, tc.want)
		}
	}
}
