package peersapi

import (
	"fmt"
	"slices"
	"testing"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

func pods(n int) []peers.Peer {
	out := make([]peers.Peer, n)
	for i := range out {
		out[i] = peers.Peer{Name: fmt.Sprintf("mesh-7d9f-%05d", i), Address: fmt.Sprintf("10.88.%d.%d:8080", i/250, i%250)}
	}
	return out
}

func TestRingWithoutFanOutGivesEveryOther(t *testing.T) {
	r := NewRing(pods(5))
	for _, k := range []int{0, -1, 4, 9} {
		got := r.Successors("mesh-7d9f-00002", k)
		if len(got) != 4 || slices.ContainsFunc(got, func(p peers.Peer) bool { return p.Name == "mesh-7d9f-00002" }) {
			t.Fatalf("k=%d gave %v", k, got)
		}
	}
}

// Every pod gets k distinct peers, never itself, deterministically, and is
// pinged by exactly k others, at every group size from k+1 up.
func TestRingGivesEveryPodExactlyKPingers(t *testing.T) {
	for _, k := range []int{1, 3, 5, 10} {
		for _, n := range []int{k + 1, k + 2, 2 * k, 50, 333, 1000} {
			g := Group{Doc: peers.Document{Peers: pods(n)}, MaxPeers: k}
			g.ring = NewRing(g.Doc.Peers)
			pingers := map[string]int{}
			for _, self := range g.Doc.Peers {
				view := g.View(self.Name)
				if len(view.Peers) != k {
					t.Fatalf("k=%d n=%d: %s got %d peers", k, n, self.Name, len(view.Peers))
				}
				for i, p := range view.Peers {
					if p.Name == self.Name || (i > 0 && view.Peers[i-1].Name == p.Name) {
						t.Fatalf("k=%d n=%d: %s got itself or a duplicate: %v", k, n, self.Name, view.Peers)
					}
					pingers[p.Name]++
				}
				if again := g.View(self.Name); !slices.Equal(again.Peers, view.Peers) {
					t.Fatalf("not deterministic for %s", self.Name)
				}
			}
			for _, p := range g.Doc.Peers {
				if pingers[p.Name] != k {
					t.Fatalf("k=%d n=%d: %s is pinged by %d, want exactly %d", k, n, p.Name, pingers[p.Name], k)
				}
			}
		}
	}
}

// A pod leaving changes exactly the lists of its k ring predecessors (the
// pods that pinged it), and a pod joining changes exactly the lists of the
// k pods that now ping it.
func TestRingChangesOnlyThePredecessorsLists(t *testing.T) {
	const k = 4
	all := pods(200)
	leaving := all[77]
	without := slices.Delete(slices.Clone(all), 77, 78)
	before, after := NewRing(all), NewRing(without)
	var changed, pingedIt []string
	for _, self := range without {
		b, a := before.Successors(self.Name, k), after.Successors(self.Name, k)
		if !slices.Equal(b, a) {
			changed = append(changed, self.Name)
		}
		if slices.Contains(b, leaving) {
			pingedIt = append(pingedIt, self.Name)
		}
	}
	if len(pingedIt) != k || !slices.Equal(changed, pingedIt) {
		t.Fatalf("leave: %d lists changed %v, want exactly the %d that pinged %s %v", len(changed), changed, k, leaving.Name, pingedIt)
	}
	// Joining is the same move backwards.
	changed = changed[:0]
	for _, self := range without {
		if !slices.Equal(after.Successors(self.Name, k), before.Successors(self.Name, k)) {
			changed = append(changed, self.Name)
		}
	}
	if !slices.Equal(changed, pingedIt) {
		t.Fatalf("join: lists changed %v, want %v", changed, pingedIt)
	}
}

// A pod not on the ring yet (not Ready) gets the k pods after where its name
// hashes, and is not among them.
func TestRingServesAPodThatIsNotOnIt(t *testing.T) {
	r := NewRing(pods(10))
	got := r.Successors("newcomer", 3)
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
}

// A pod that is not listed yet gets k peers too, at the edge where k equals
// the listed pods' count minus one.
func TestViewOfAnUnlistedPodHasKPeers(t *testing.T) {
	g := Group{Doc: peers.Document{Peers: pods(5)}, MaxPeers: 4}
	if got := g.View("newcomer").Peers; len(got) != 4 {
		t.Fatalf("got %d peers, want 4: %v", len(got), got)
	}
	if got := g.View("mesh-7d9f-00001").Peers; len(got) != 4 {
		t.Fatalf("a listed pod got %d peers, want 4", len(got))
	}
}
