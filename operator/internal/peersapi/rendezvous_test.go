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

func TestChooseKeepsAllWithoutFanOut(t *testing.T) {
	all := pods(5)
	for _, k := range []int{0, -1, 5, 9} {
		if got := Choose("x", all, k); len(got) != 5 {
			t.Fatalf("k=%d gave %d", k, len(got))
		}
	}
}

// Each pod gets k distinct peers (never itself, via View), the choice is
// deterministic, and every pod is chosen by about k others.
func TestChooseSpreadsLoadEvenly(t *testing.T) {
	const n, k = 1000, 5
	g := Group{Doc: peers.Document{Peers: pods(n)}, MaxPeers: k}
	chosenBy := map[string]int{}
	for _, self := range g.Doc.Peers {
		view := g.View(self.Name)
		if len(view.Peers) != k {
			t.Fatalf("%s got %d peers", self.Name, len(view.Peers))
		}
		seen := map[string]bool{}
		for _, p := range view.Peers {
			if p.Name == self.Name || seen[p.Name] {
				t.Fatalf("%s got itself or a duplicate: %v", self.Name, view.Peers)
			}
			seen[p.Name] = true
			chosenBy[p.Name]++
		}
		if again := g.View(self.Name); !slices.Equal(again.Peers, view.Peers) {
			t.Fatalf("not deterministic for %s", self.Name)
		}
	}
	most, never := 0, 0
	for _, p := range g.Doc.Peers {
		most = max(most, chosenBy[p.Name])
		if chosenBy[p.Name] == 0 {
			never++
		}
	}
	// k=5 on average; a Poisson(5) tail past 15 over 1,000 pods is ~1e-4.
	if most > 3*k || never > n/50 {
		t.Fatalf("uneven: busiest pod pinged by %d, %d pods pinged by nobody", most, never)
	}
	t.Logf("k=%d over %d pods: busiest pinged by %d, %d pinged by nobody", k, n, most, never)
}

// Removing one pod changes only the lists that contained it.
func TestChooseIsStableWhenAPodLeaves(t *testing.T) {
	all := pods(50)
	without := slices.Delete(slices.Clone(all), 10, 11)
	changed := 0
	for _, self := range without {
		before := Choose(self.Name, slices.DeleteFunc(slices.Clone(all), func(p peers.Peer) bool { return p == self }), 3)
		after := Choose(self.Name, slices.DeleteFunc(slices.Clone(without), func(p peers.Peer) bool { return p == self }), 3)
		if !slices.Equal(before, after) {
			changed++
			if !slices.Contains(before, all[10]) {
				t.Fatalf("%s's peers changed though it did not ping the removed pod", self.Name)
			}
		}
	}
	t.Logf("%d of %d lists changed", changed, len(without))
}
