package peersapi

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strings"
)

// Ring orders a group's peers by a hash of their names. With fan-out k each
// pod pings the k pods that follow it on the ring, so every pod is pinged by
// exactly k others (when the group has more than k pods), and a pod joining
// or leaving changes only the lists of its k ring predecessors.
//
// The position depends on the name alone, never on the node: any ordering
// that looked at other pods (to interleave nodes, say) would move many pods
// when one joins, and lose that locality.
type Ring []ringEntry

type ringEntry struct {
	pos   uint64
	name  string
	index int // into the list the ring was built from
}

// NewRing places the named pods on the ring; Successors answers with
// indices into names.
func NewRing(names []string) Ring {
	r := make(Ring, len(names))
	for i, name := range names {
		r[i] = ringEntry{position(name), name, i}
	}
	slices.SortFunc(r, compareEntries)
	return r
}

func compareEntries(a, b ringEntry) int {
	return cmp.Or(cmp.Compare(a.pos, b.pos), strings.Compare(a.name, b.name))
}

// Successors are the indices of the k pods after self on the ring, self left
// out, in ascending order. self need not be on the ring (a pod not yet Ready):
// its place is where its name hashes to. k <= 0, or k at least the other
// pods, gives them all.
func (r Ring) Successors(self string, k int) []int {
	start, onRing := slices.BinarySearchFunc(r, ringEntry{pos: position(self), name: self}, compareEntries)
	others := len(r)
	if onRing {
		others--
	}
	if k <= 0 || k > others {
		k = others
	}
	out := make([]int, 0, k)
	for i := start; len(out) < k; i++ {
		if e := r[i%len(r)]; e.name != self {
			out = append(out, e.index)
		}
	}
	slices.Sort(out)
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
