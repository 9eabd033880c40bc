package localize

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mesh builds a round: pods "p0".."p<n-1>" on nodes by nodeOf, every pod
// pinging every other (or its k ring successors), each link sending 20
// segments; broken(from, to) says a link is down, lost(from, to) how many
// of its segments were retransmitted.
type mesh struct {
	n, k   int
	nodeOf func(i int) string
	zoneOf func(node string) string
	broken func(from, to Pod) bool
	lost   func(from, to Pod) int
}

func (m mesh) input() Input {
	var in Input
	for i := range m.n {
		node := "node-0"
		if m.nodeOf != nil {
			node = m.nodeOf(i)
		}
		zone := "zone-a"
		if m.zoneOf != nil {
			zone = m.zoneOf(node)
		}
		in.Pods = append(in.Pods, Pod{Name: fmt.Sprintf("p%d", i), Node: node, Zone: zone})
	}
	for i, from := range in.Pods {
		targets := []int{}
		if m.k == 0 {
			for j := range m.n {
				if j != i {
					targets = append(targets, j)
				}
			}
		} else {
			for d := 1; d <= m.k; d++ {
				targets = append(targets, (i+d)%m.n)
			}
		}
		for _, j := range targets {
			to := in.Pods[j]
			l := Link{From: from.Name, To: to.Name, Segments: 20}
			if m.broken != nil && m.broken(from, to) {
				l.Down = true
			}
			if m.lost != nil {
				l.Retransmits = int32(m.lost(from, to))
				l.Segments += l.Retransmits
			}
			in.Links = append(in.Links, l)
		}
	}
	return in
}

func refs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Ref(), f.Direction, f.Severity))
	}
	return out
}

func is(names ...string) func(Pod) bool {
	return func(p Pod) bool { return slices.Contains(names, p.Name) }
}

func TestLocalize(t *testing.T) {
	threeNodes := func(i int) string { return fmt.Sprintf("node-%d", i%3) }
	for _, tc := range []struct {
		name string
		m    mesh
		want []string
	}{
		{"healthy", mesh{n: 6}, nil},
		// The user's report: two pods of a 4-pod mesh cannot send. The old
		// rule named the two healthy pods, each unreachable from 2 of 3.
		{"two broken senders are named, not the pods they ping",
			mesh{n: 4, broken: func(f, _ Pod) bool { return is("p0", "p1")(f) }},
			[]string{"Pod/p0 Out Down", "Pod/p1 Out Down"}},
		{"two broken receivers, symmetric",
			mesh{n: 4, broken: func(_, to Pod) bool { return is("p0", "p1")(to) }},
			[]string{"Pod/p0 In Down", "Pod/p1 In Down"}},
		// In a ring of 2, p2's only pingers are p0 and p1: it looks
		// unreachable, but the two senders explain it and everything else.
		{"two broken senders sharing a target in a ring",
			mesh{n: 8, k: 2, broken: func(f, _ Pod) bool { return is("p0", "p1")(f) }},
			[]string{"Pod/p0 Out Down", "Pod/p1 Out Down"}},
		{"a pod that is cut off both ways",
			mesh{n: 5, broken: func(f, to Pod) bool { return is("p3")(f) || is("p3")(to) }},
			[]string{"Pod/p3 Both Down"}},
		{"one broken path is a Link, neither end accused",
			mesh{n: 4, broken: func(f, to Pod) bool { return f.Name == "p0" && to.Name == "p1" }},
			[]string{"Link/p0→p1 Out Down"}},
		{"a path broken both ways is one Link",
			mesh{n: 5, broken: func(f, to Pod) bool { return is("p0", "p1")(f) && is("p0", "p1")(to) }},
			[]string{"Link/p0↔p1 Both Down"}},
		{"a node whose data plane is down: cross-node links fail, its own go on",
			mesh{n: 6, nodeOf: threeNodes, broken: func(f, to Pod) bool { return f.Node != to.Node && (f.Node == "node-1" || to.Node == "node-1") }},
			[]string{"Node/node-1 Both Down"}},
		{"a zone cut off",
			mesh{n: 12, nodeOf: func(i int) string { return fmt.Sprintf("node-%d", i%4) },
				zoneOf: func(n string) string {
					return map[string]string{"node-0": "a", "node-1": "a", "node-2": "b", "node-3": "c"}[n]
				},
				broken: func(f, to Pod) bool { return f.Zone != to.Zone && (f.Zone == "a" || to.Zone == "a") }},
			[]string{"Zone/a Both Down"}},
		// With a zone of one node, that node and its zone look alike: the
		// narrower is named.
		{"a cut between two zones, one of a single node",
			mesh{n: 9, nodeOf: func(i int) string { return fmt.Sprintf("node-%d", i%3) },
				zoneOf: func(n string) string { return map[string]string{"node-0": "a", "node-1": "a", "node-2": "b"}[n] },
				broken: func(f, to Pod) bool { return f.Zone != to.Zone }},
			[]string{"Node/node-2 Both Down"}},
		{"20% loss on a node: Degraded, not Down",
			mesh{n: 6, nodeOf: threeNodes, lost: func(f, to Pod) int {
				if f.Node != to.Node && (f.Node == "node-2" || to.Node == "node-2") {
					return 5
				}
				return 0
			}},
			[]string{"Node/node-2 Both Degraded"}},
		// At 20% loss two pings in a row get lost now and then: the path
		// is down, and the node's loss explains it.
		{"a path down through a lossy node is the node's",
			mesh{n: 6, nodeOf: threeNodes, lost: func(f, to Pod) int {
				if f.Node != to.Node && (f.Node == "node-2" || to.Node == "node-2") {
					return 5
				}
				return 0
			}, broken: func(f, to Pod) bool { return f.Name == "p0" && to.Name == "p2" }},
			[]string{"Node/node-2 Both Degraded"}},
		{"a lossy pod, as it sends",
			mesh{n: 6, lost: func(f, _ Pod) int {
				if f.Name == "p4" {
					return 4
				}
				return 0
			}},
			[]string{"Pod/p4 Out Degraded"}},
		{"one lossy path does not make its pods lossy",
			mesh{n: 6, lost: func(f, to Pod) int {
				if f.Name == "p1" && to.Name == "p2" {
					return 8
				}
				return 0
			}},
			[]string{"Link/p1→p2 Out Degraded"}},
		{"a retransmit here and there is the baseline",
			mesh{n: 8, lost: func(f, to Pod) int {
				if (len(f.Name)+len(to.Name)+int(f.Name[1])*3+int(to.Name[1]))%7 == 0 {
					return 1
				}
				return 0
			}},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := refs(Localize(tc.m.input()))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// What the data cannot tell apart is said.
func TestAmbiguous(t *testing.T) {
	// Three pods on three nodes: p1's node holds only p1.
	in := mesh{n: 3, nodeOf: func(i int) string { return fmt.Sprintf("node-%d", i) },
		broken: func(f, to Pod) bool { return is("p1")(f) || is("p1")(to) }}.input()
	fs := Localize(in)
	if len(fs) != 1 || fs[0].Ref() != "Pod/p1" || !strings.Contains(fs[0].Ambiguous, "only pod of the group on node node-1") {
		t.Fatalf("got %+v", fs)
	}
}
