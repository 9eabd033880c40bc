package peersapi

import (
	"hash/fnv"
	"slices"
	"strings"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Choose picks k of candidates for self by rendezvous (highest random weight)
// hashing: each (self, candidate) pair gets a pseudo-random score and self
// takes the k highest. It is deterministic, a pod's choice changes only by the
// peers that come or go, and each pod is chosen by about k others. The result
// is sorted by name. k <= 0 or k >= len(candidates) returns them all.
func Choose(self string, candidates []peers.Peer, k int) []peers.Peer {
	if k <= 0 || k >= len(candidates) {
		return candidates
	}
	type scored struct {
		score uint64
		peer  peers.Peer
	}
	all := make([]scored, len(candidates))
	for i, p := range candidates {
		all[i] = scored{score(self, p.Name), p}
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.peer.Name, b.peer.Name)
	})
	out := make([]peers.Peer, k)
	for i := range out {
		out[i] = all[i].peer
	}
	slices.SortFunc(out, func(a, b peers.Peer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func score(self, candidate string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(self))
	h.Write([]byte{0})
	h.Write([]byte(candidate))
	// FNV alone clusters on similar names (mesh-abcde, mesh-abcdf); a
	// splitmix64 finalizer spreads the bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
