package mesh

import "github.com/simulated-peering/simulated-peering/operator/api/peers"

// Diff says which loops to start and stop to go from the running set to the
// desired one. A peer is identified by name and address: a name whose address
// changed is stopped and started again. Unchanged peers appear in neither list,
// so their loops keep running.
func Diff(running map[string]peers.Peer, desired []peers.Peer) (start, stop []peers.Peer) {
	want := make(map[string]peers.Peer, len(desired))
	for _, p := range desired {
		want[p.Name] = p
		if old, ok := running[p.Name]; !ok || old != p {
			start = append(start, p)
		}
	}
	for name, p := range running {
		if w, ok := want[name]; !ok || w != p {
			stop = append(stop, p)
		}
	}
	return start, stop
}
