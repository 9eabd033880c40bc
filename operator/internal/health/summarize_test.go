package health

import (
	"fmt"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// mesh is a full mesh of pods "<node>-<i>" over the given nodes (node → zone),
// every pod counting and reporting every link up at 1ms/2ms.
type mesh struct {
	in      Input // without its reports
	reports map[string]peers.Links
}

// input is the round with every report digested.
func (m *mesh) input() Input {
	in := m.in
	in.Reports = Reports(m.reports)
	return in
}

func fullMesh(perNode int, zones map[string]string) *mesh {
	m := &mesh{in: Input{Expected: map[string][]string{}}, reports: map[string]peers.Links{}}
	for _, node := range sortedNodes(zones) {
		for i := range perNode {
			m.in.Pods = append(m.in.Pods, Pod{Name: fmt.Sprintf("%s-%d", node, i), Node: node, Zone: zones[node], Counts: true})
		}
	}
	for _, p := range m.in.Pods {
		var links []peers.Link
		for _, q := range m.in.Pods {
			if q.Name == p.Name {
				continue
			}
			m.in.Expected[p.Name] = append(m.in.Expected[p.Name], q.Name)
			links = append(links, peers.Link{Peer: q.Name, State: peers.LinkUp, Since: t0,
				RTTP50: peers.Duration{Duration: time.Millisecond}, RTTP99: peers.Duration{Duration: 2 * time.Millisecond}})
		}
		m.reports[p.Name] = peers.Links{Pod: p.Name, Window: 20, Links: links}
	}
	return m
}

func sortedNodes(zones map[string]string) []string {
	var out []string
	for n := range zones {
		out = append(out, n)
	}
	for i := range out { // tiny: insertion sort keeps the test free of imports
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// set makes the link pinger → target down (since t0+minutes) or unmeasured.
func (m *mesh) set(pinger, target string, state peers.LinkState, minutes int) {
	r := m.reports[pinger]
	for i, l := range r.Links {
		if l.Peer == target {
			r.Links[i].State, r.Links[i].Since = state, t0.Add(time.Duration(minutes)*time.Minute)
		}
	}
}

// cut breaks every link to and from the pods matched, except among them.
func (m *mesh) cut(match func(Pod) bool, minutes int) {
	for _, p := range m.in.Pods {
		for _, q := range m.in.Pods {
			if p.Name != q.Name && match(p) != match(q) {
				m.set(p.Name, q.Name, peers.LinkDown, minutes)
			}
		}
	}
}

func threeNodes() map[string]string {
	return map[string]string{"node-1": "zone-a", "node-2": "zone-a", "node-3": "zone-b"}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		build    func() *mesh
		links    string // Summary, Down, Unmeasured, UnreportedPods
		suspects []string
	}{
		{"all up", func() *mesh { return fullMesh(2, threeNodes()) }, "30/30 down 0 unmeasured 0 unreported 0", nil},
		{"one pod unreachable from everyone", func() *mesh {
			m := fullMesh(2, threeNodes())
			for _, p := range m.in.Pods {
				if p.Name != "node-2-1" {
					m.set(p.Name, "node-2-1", peers.LinkDown, 3)
				}
			}
			return m
		}, "25/30 down 5 unmeasured 0 unreported 0", []string{"Pod node-2-1 on node-2 Unreachable 5/5 since +3m"}},
		// A link is down after two failed pings in a row: one broken path
		// is named as itself, neither of its pods.
		{"one broken path is a Link", func() *mesh {
			m := fullMesh(2, threeNodes())
			m.set("node-1-0", "node-2-1", peers.LinkDown, 1)
			return m
		}, "29/30 down 1 unmeasured 0 unreported 0", []string{"Link node-1-0→node-2-1 CannotReach 1/1 since +1m"}},
		{"a node's data plane breaks: the node, not its pods", func() *mesh {
			m := fullMesh(2, threeNodes())
			m.cut(func(p Pod) bool { return p.Node == "node-3" }, 2)
			// The operator cannot reach the node's pods either: no reports.
			delete(m.reports, "node-3-0")
			delete(m.reports, "node-3-1")
			return m
		}, "12/30 down 8 unmeasured 0 unreported 2", []string{"Node node-3 Unreachable 8/8 since +2m"}},
		{"a zone of two nodes breaks: the zone", func() *mesh {
			m := fullMesh(2, map[string]string{"node-1": "zone-a", "node-2": "zone-a", "node-3": "zone-b", "node-4": "zone-b"})
			m.cut(func(p Pod) bool { return p.Zone == "zone-b" }, 4)
			for _, p := range m.in.Pods {
				if p.Zone == "zone-b" {
					delete(m.reports, p.Name) // the operator cannot reach them either
				}
			}
			return m
		}, "12/56 down 16 unmeasured 0 unreported 4", []string{"Zone zone-b Unreachable 16/16 since +4m"}},
		// Between the only two nodes a cut looks the same from either: one
		// is named, with a note saying so (the old rule accused both).
		{"a cut between the only two nodes", func() *mesh {
			m := fullMesh(2, map[string]string{"node-1": "zone-a", "node-2": "zone-b"})
			m.cut(func(p Pod) bool { return p.Zone == "zone-b" }, 1)
			return m
		}, "4/12 down 8 unmeasured 0 unreported 0", []string{"Node node-1 CannotReach,Unreachable 8/8 since +1m"}},
		// The user's report: two pods of a 4-pod mesh cannot send, yet answer
		// pings. The old rule named the two healthy pods.
		{"two broken senders", func() *mesh {
			m := fullMesh(1, map[string]string{"node-1": "zone-a", "node-2": "zone-a", "node-3": "zone-b", "node-4": "zone-b"})
			for _, pinger := range []string{"node-1-0", "node-2-0"} {
				for _, q := range m.in.Pods {
					if q.Name != pinger {
						m.set(pinger, q.Name, peers.LinkDown, 2)
					}
				}
			}
			return m
		}, "6/12 down 6 unmeasured 0 unreported 0", []string{"Pod node-1-0 on node-1 CannotReach 3/3 since +2m", "Pod node-2-0 on node-2 CannotReach 3/3 since +2m"}},
		{"a pod that cannot reach anyone", func() *mesh {
			m := fullMesh(2, threeNodes())
			for _, q := range m.in.Pods {
				if q.Name != "node-1-0" {
					m.set("node-1-0", q.Name, peers.LinkDown, 5)
				}
			}
			return m
		}, "25/30 down 5 unmeasured 0 unreported 0", []string{"Pod node-1-0 on node-1 CannotReach 5/5 since +5m"}},
		{"pods that do not count raise nothing", func() *mesh {
			m := fullMesh(2, threeNodes())
			for _, p := range m.in.Pods {
				if p.Name != "node-2-1" {
					m.set(p.Name, "node-2-1", peers.LinkDown, 3)
				}
			}
			for i := range m.in.Pods {
				if m.in.Pods[i].Name == "node-2-1" {
					m.in.Pods[i].Counts = false // terminating, or not Ready for an interval yet
				}
			}
			return m
		}, "20/20 down 0 unmeasured 0 unreported 0", nil},
		{"unreported is not down", func() *mesh {
			m := fullMesh(2, threeNodes())
			delete(m.reports, "node-1-1")
			return m
		}, "25/30 down 0 unmeasured 0 unreported 1", nil},
		{"unmeasured links and missing records", func() *mesh {
			m := fullMesh(2, threeNodes())
			m.set("node-1-0", "node-1-1", peers.LinkUnmeasured, 0)
			r := m.reports["node-2-0"]
			r.Links = r.Links[1:] // the server has not got the newest peers yet
			m.reports["node-2-0"] = r
			return m
		}, "28/30 down 0 unmeasured 2 unreported 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewTracker().Publish(Summarize(tc.build().input()), t0)
			st, sus := r.Links, r.Suspects
			got := fmt.Sprintf("%s down %d unmeasured %d unreported %d", st.Summary, st.Down, st.Unmeasured, st.UnreportedPods)
			if got != tc.links {
				t.Errorf("links %q, want %q", got, tc.links)
			}
			var names []string
			for _, s := range sus {
				names = append(names, describe(s))
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.suspects) {
				t.Errorf("suspects %q, want %q", names, tc.suspects)
			}
		})
	}
}

func describe(s v1alpha1.Suspect) string {
	where := ""
	if s.Node != "" {
		where = " on " + s.Node
	}
	return fmt.Sprintf("%s %s%s %s %s since +%s", s.Kind, s.Name, where, s.Reason, s.ReportedBy, s.Since.Sub(t0).String()[:2])
}

// The group's latency is a quantile of every up link's pings pooled (not
// the worst link's p99), read as its bucket's bound, with the count.
func TestLatencyIsPooled(t *testing.T) {
	m := fullMesh(2, threeNodes()).windows(func(n int) map[time.Duration]int {
		w := map[time.Duration]int{800 * time.Microsecond: 19} // every link: 19 pings under 1ms
		if n == 0 {
			w[900*time.Millisecond] = 1 // and one slow ping on one link
		}
		return w
	})
	r := NewTracker().Publish(Summarize(m.input()), t0)
	if r.Links.P50 != "1ms" || r.Links.P99 != "1ms" || r.Links.Samples != 30*19+1 {
		t.Fatalf("p50 %s p99 %s over %d, want 1ms and 1ms over 571 (one slow ping is not the p99)", r.Links.P50, r.Links.P99, r.Links.Samples)
	}
}

// windows sets the RTT histogram of every link: the n-th link's (pingers
// by name) holds window(n), round-trip time → pings.
func (m *mesh) windows(window func(n int) map[time.Duration]int) *mesh {
	n := 0
	for _, name := range sortedNames(m) {
		r := m.reports[name]
		for j := range r.Links {
			b := make([]int, len(peers.RTTBucketBounds)+1)
			for rtt, pings := range window(n) {
				b[peers.RTTBucket(rtt)] += pings
			}
			r.Links[j].RTTBuckets = b
			n++
		}
	}
	return m
}

func sortedNames(m *mesh) []string {
	var out []string
	for _, p := range m.in.Pods {
		out = append(out, p.Name)
	}
	return out
}

// At most MaxSuspects, most severe first.
func TestSuspectsAreCappedAndOrdered(t *testing.T) {
	zones := map[string]string{}
	for i := range 15 {
		zones[fmt.Sprintf("node-%02d", i)] = fmt.Sprintf("zone-%02d", i) // nothing merges
	}
	m := fullMesh(1, zones)
	for i := range 12 { // 12 pods unreachable
		victim := fmt.Sprintf("node-%02d-0", i)
		for _, p := range m.in.Pods {
			if p.Name != victim {
				m.set(p.Name, victim, peers.LinkDown, i)
			}
		}
	}
	sus := NewTracker().Publish(Summarize(m.input()), t0).Suspects
	if len(sus) != MaxSuspects {
		t.Fatalf("%d suspects, want %d", len(sus), MaxSuspects)
	}
	for i := 1; i < len(sus); i++ {
		if sus[i].Kind != "Pod" || sus[i].Name < sus[i-1].Name && sus[i].ReportedBy == sus[i-1].ReportedBy {
			t.Fatalf("not ordered: %v", sus)
		}
	}
}
