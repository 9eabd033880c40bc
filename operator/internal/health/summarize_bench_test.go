package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// One round's summary of 1,000 pods with a fan-out of 10 over 10 nodes:
// 10,000 links, 20 of them down (one pod unreachable from its pingers).
func BenchmarkSummarize1000PodsFanOut10(b *testing.B) {
	in := Input{Expected: map[string][]string{}, Reports: map[string]Report{}}
	name := func(i int) string { return fmt.Sprintf("mesh-%04d", i%1000) }
	for i := range 1000 {
		in.Pods = append(in.Pods, Pod{Name: name(i), Node: fmt.Sprintf("node-%d", i%10), Zone: fmt.Sprintf("zone-%d", i%3), Counts: true})
		var links []peers.Link
		for j := 1; j <= 10; j++ {
			target := name(i + j)
			in.Expected[name(i)] = append(in.Expected[name(i)], target)
			l := peers.Link{Peer: target, State: peers.LinkUp, RTTP50: peers.Duration{Duration: time.Millisecond}, RTTP99: peers.Duration{Duration: 2 * time.Millisecond}}
			if target == "mesh-0500" {
				l.State = peers.LinkDown
			}
			links = append(links, l)
		}
		in.Reports[name(i)] = Digest(peers.Links{Pod: name(i), Window: 20, Links: links}, nil)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s := Summarize(in); len(s.Findings) != 1 {
			b.Fatalf("findings %v", s.Findings)
		}
	}
}
