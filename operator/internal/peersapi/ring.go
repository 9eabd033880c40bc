package peersapi

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Ring orders a group's peers by a hash of their names. With fan-out k each
// pod pings the k pods that follow it on the ring, so every pod is pinged by
// exactly k others (when the group has more than k pods), and a pod joining
// or leaving changes only the lists of its k ring predecessors.
type Ring []ringEntry

type ringEntry struct {
	pos  uint64
	peer peers.Peer
}

// NewRing places peers on the ring.
func NewRing(list []peers.Peer) Ring {
	r := make(Ring, len(list))
	for i, p := range list {
		r[i] = ringEntry{position(p.Name), p}
	}
	slices.SortFunc(r, compareEntries)
	return r
}

func compareEntries(a, b ringEntry) int {
	return cmp.Or(cmp.Compare(a.pos, b.pos), strings.Compare(a.peer.Name, b.peer.Name))
}

// Successors are the k peers after self on the ring, self left out, sorted
// by name. self need not be on the ring (a pod not yet Ready): its place is
// where its name hashes to. k <= 0, or k at least the other peers, gives them all.
func (r Ring) Successors(self string, k int) []peers.Peer {
	start, onRing := slices.BinarySearchFunc(r, ringEntry{position(self), peers.Peer{Name: self}}, compareEntries)
	others := len(r)
	if onRing {
		others--
	}
	if k <= 0 || k > others {
		k = others
	}
	out := make([]peers.Peer, 0, k)
	for i := start; len(out) < k; i++ {
		if e := r[i%len(r)]; e.peer.Name != self {
			out = append(out, e.peer)
		}
	}
	slices.SortFunc(out, func(a, b peers.Peer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// position hashes a pod name onto the ring.
func position(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	// FNV alone clusters on similar names (mesh-abcde, mesh-abcdf); a
	// splitmix64 finalizer spreads the bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
