package mesh

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

func TestDiff(t *testing.T) {
	a := peers.Peer{Name: "a", Address: "10.0.0.1:8080"}
	b := peers.Peer{Name: "b", Address: "10.0.0.2:8080"}
	c := peers.Peer{Name: "c", Address: "10.0.0.3:8080"}
	bMoved := peers.Peer{Name: "b", Address: "10.0.0.9:8080"}
	set := func(ps ...peers.Peer) map[string]peers.Peer {
		m := map[string]peers.Peer{}
		for _, p := range ps {
			m[p.Name] = p
		}
		return m
	}
	for _, tc := range []struct {
		name        string
		running     map[string]peers.Peer
		desired     []peers.Peer
		start, stop []peers.Peer
	}{
		{"from nothing", set(), []peers.Peer{a, b}, []peers.Peer{a, b}, nil},
		{"unchanged", set(a, b), []peers.Peer{b, a}, nil, nil},
		{"add one", set(a), []peers.Peer{a, c}, []peers.Peer{c}, nil},
		{"remove to one", set(a, b, c), []peers.Peer{a}, nil, []peers.Peer{b, c}},
		{"to nothing", set(a, b), nil, nil, []peers.Peer{a, b}},
		{"address changed restarts that peer only", set(a, b), []peers.Peer{a, bMoved}, []peers.Peer{bMoved}, []peers.Peer{b}},
		{"replace all", set(a), []peers.Peer{b, c}, []peers.Peer{b, c}, []peers.Peer{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, stop := Diff(tc.running, tc.desired)
			byName := func(x, y peers.Peer) int { return strings.Compare(x.Name, y.Name) }
			slices.SortFunc(start, byName)
			slices.SortFunc(stop, byName)
			if !slices.Equal(start, tc.start) || !slices.Equal(stop, tc.stop) {
				t.Fatalf("Diff = start %v stop %v, want start %v stop %v", start, stop, tc.start, tc.stop)
			}
		})
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	for range 1000 {
		if d := jitter(10_000); d < 9_000 || d > 11_000 {
			t.Fatalf("jitter(10000) = %d", d)
		}
		if d := stagger(10_000); d < 0 || d >= 10_000 {
			t.Fatalf("stagger(10000) = %d", d)
		}
	}
}

// Peers of the first set spread their first ping over a whole interval;
// peers that come later are pinged within min(interval, 5s).
func TestFirstPingWithin(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		firstSet bool
		want     time.Duration
	}{
		{time.Minute, true, time.Minute},
		{time.Minute, false, 5 * time.Second},
		{10 * time.Second, false, 5 * time.Second},
		{2 * time.Second, false, 2 * time.Second},
		{2 * time.Second, true, 2 * time.Second},
	} {
		if got := firstPingWithin(tc.interval, tc.firstSet); got != tc.want {
			t.Errorf("firstPingWithin(%s, %v) = %s, want %s", tc.interval, tc.firstSet, got, tc.want)
		}
	}
}
