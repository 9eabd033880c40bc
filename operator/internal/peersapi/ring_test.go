package peersapi

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func names(list []corev1.Pod) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name
	}
	return out
}

func TestRingWithoutFanOutGivesEveryOther(t *testing.T) {
	r := NewRing(names(readyPods(5)))
	for _, k := range []int{0, -1, 4, 9} {
		if got := r.Successors("mesh-7d9f-00002", k); !slices.Equal(got, []int{0, 1, 3, 4}) {
			t.Fatalf("k=%d gave %v", k, got)
		}
	}
}

// Every pod gets k distinct peers, never itself, deterministically, and is
// pinged by exactly k others, at every group size from k+1 up.
func TestRingGivesEveryPodExactlyKPingers(t *testing.T) {
	for _, k := range []int{1, 3, 5, 10} {
		for _, n := range []int{k + 1, k + 2, 2 * k, 50, 333, 1000} {
			s := Build(group(int32(k)), nil, readyPods(n))
			pingers := map[string]int{}
			for _, self := range s.Peers() {
				view := s.View(self.Name).Document().Peers
				if len(view) != k {
					t.Fatalf("k=%d n=%d: %s got %d peers", k, n, self.Name, len(view))
				}
				for i, p := range view {
					if p.Name == self.Name || (i > 0 && view[i-1].Name == p.Name) {
						t.Fatalf("k=%d n=%d: %s got itself or a duplicate: %v", k, n, self.Name, view)
					}
					pingers[p.Name]++
				}
				if again := s.View(self.Name); again.Revision != s.View(self.Name).Revision {
					t.Fatalf("not deterministic for %s", self.Name)
				}
			}
			for _, p := range s.Peers() {
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
	all := names(readyPods(200))
	leaving := all[77]
	without := slices.Delete(slices.Clone(all), 77, 78)
	before, after := NewRing(all), NewRing(without)
	at := func(list []string, indices []int) []string {
		out := []string{}
		for _, i := range indices {
			out = append(out, list[i])
		}
		return out
	}
	var changed, pingedIt []string
	for _, self := range without {
		b, a := at(all, before.Successors(self, k)), at(without, after.Successors(self, k))
		if !slices.Equal(b, a) {
			changed = append(changed, self)
		}
		if slices.Contains(b, leaving) {
			pingedIt = append(pingedIt, self)
		}
	}
	if len(pingedIt) != k || !slices.Equal(changed, pingedIt) {
		t.Fatalf("leave: %d lists changed %v, want exactly the %d that pinged %s %v", len(changed), changed, k, leaving, pingedIt)
	}
}

// A pod not on the ring yet (not Ready) gets the k pods after where its name
// hashes, and a listed pod k too, at the edge where k equals the listed
// pods' count minus one.
func TestViewOfAnUnlistedPodHasKPeers(t *testing.T) {
	s := Build(group(4), nil, readyPods(5))
	if got := s.View("newcomer").Document().Peers; len(got) != 4 {
		t.Fatalf("got %d peers, want 4: %v", len(got), got)
	}
	if got := s.View("mesh-7d9f-00001").Document().Peers; len(got) != 4 {
		t.Fatalf("a listed pod with k = the others got %d peers, want all 4 others", len(got))
	}
	if got := Build(group(3), nil, readyPods(5)).View("mesh-7d9f-00001").Document().Peers; len(got) != 3 {
		t.Fatalf("got %d peers, want 3", len(got))
	}
}
