package health

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// lossyNode3 makes every link across node-3 retransmit 5 of 25 segments
// (20%), and every other one none of 20.
func lossyNode3(m *mesh) {
	node := map[string]string{}
	for _, p := range m.in.Pods {
		node[p.Name] = p.Node
	}
	for pinger, r := range m.reports {
		for i, l := range r.Links {
			r.Links[i].Segments = 20
			if node[pinger] != node[l.Peer] && (node[pinger] == "node-3" || node[l.Peer] == "node-3") {
				r.Links[i].Segments, r.Links[i].Retransmits = 25, 5
			}
		}
	}
}

// Suspects appear and clear on evidence in consecutive rounds: Down at
// once (its links already needed two failed pings), Degraded after two
// rounds; both clear after two rounds without them. A steady mesh gives the
// same result every round (no status write).
func TestHysteresis(t *testing.T) {
	healthy, lossy, down := fullMesh(2, threeNodes()), fullMesh(2, threeNodes()), fullMesh(2, threeNodes())
	lossyNode3(lossy)
	down.cut(func(p Pod) bool { return p.Node == "node-3" }, 0)
	tr := NewTracker()
	var shown []string
	var last Result
	for round, m := range []*mesh{healthy, healthy, lossy, lossy, lossy, healthy, healthy, down, healthy, healthy, healthy, healthy} {
		r := tr.Publish(Summarize(m.input()), t0.Add(time.Duration(round)*10*time.Second))
		line := fmt.Sprintf("%s %q", r.Links.Summary, r.Links.Suspect)
		for _, s := range r.Suspects {
			line += " " + s.Severity
		}
		shown = append(shown, line)
		if round == 1 && !reflect.DeepEqual(r, last) {
			t.Errorf("a steady mesh changed its result:\n%+v\n%+v", last, r)
		}
		last = r
	}
	want := []string{
		`30/30 ""`, `30/30 ""`,
		`30/30 ""`, // lossy, first round: not yet
		`30/30 (16 lossy) "Node/node-3" Degraded`, `30/30 (16 lossy) "Node/node-3" Degraded`,
		`30/30 (16 lossy) "Node/node-3" Degraded`, // healthy once: not cleared yet
		`30/30 ""`,
		`14/30 "Node/node-3" Down`, // down: at once
		`30/30 "Node/node-3" Down`, // up again once: still listed
		`30/30 ""`, `30/30 ""`, `30/30 ""`,
	}
	if !reflect.DeepEqual(shown, want) {
		t.Fatalf("rounds:\n%q\nwant\n%q", shown, want)
	}
}

// meshAt is a 6-pod full mesh (30 links, a full window each) whose pings
// took base, except one ping in each of the first spiked links, which took
// spike.
func meshAt(base, spike time.Duration, spiked int) *mesh {
	return fullMesh(2, threeNodes()).windows(func(n int) map[time.Duration]int {
		w := map[time.Duration]int{base: peers.LinkWindow}
		if n < spiked {
			w[base]--
			w[spike]++
		}
		return w
	})
}

// settled is how many rounds a new group's figures follow its windows
// closely (its first pings still in them) before the long hold applies.
const settled = peers.LinkWindow + 1

func millis(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// The latency written moves only beyond a band (LatencyBand buckets, a
// factor of ten) held for LatencyRounds rounds in a row: 1, 2 and 5 ms of
// noise write nothing; 50 ms for a few rounds writes nothing; 50 ms held
// for LatencyRounds rounds does, on the last of them (once the windows
// no longer hold the group's first pings: settled).
func TestLatencyHysteresis(t *testing.T) {
	var rtts []time.Duration
	for range settled {
		rtts = append(rtts, millis(0.8))
	}
	rtts = append(rtts, millis(1.5), millis(4), millis(1.5), millis(4), millis(4), millis(4), millis(30), millis(0.8))
	for range LatencyRounds {
		rtts = append(rtts, millis(30))
	}
	tr := NewTracker()
	var got, want []string
	for i, rtt := range rtts {
		got = append(got, tr.Publish(Summarize(meshAt(rtt, 0, 0).input()), t0).Links.P99)
		want = append(want, map[bool]string{true: "50ms", false: "1ms"}[i == len(rtts)-1])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("p99 by round %q, want %q", got, want)
	}
}

// One stall of the machine delays a few pings of a round by tens of
// milliseconds: enough (7 of 600) to move the pooled p99 by a factor of ten
// for as long as those pings stay in the links' windows, LinkWindow rounds,
// then it falls back. That writes nothing (CI's healthy mesh wrote its p99
// 5 ms → 50 ms → 5 ms when the hold was three rounds); a lasting change is
// written.
func TestALatencyBurstWritesNothing(t *testing.T) {
	tr := NewTracker()
	publish := func(m *mesh) string { return tr.Publish(Summarize(m.input()), t0).Links.P99 }
	var got []string
	for range settled + 5 {
		got = append(got, publish(meshAt(millis(4), 0, 0)))
	}
	// A burst over two rounds stays in the windows LinkWindow rounds more.
	for range peers.LinkWindow + 2 {
		got = append(got, publish(meshAt(millis(4), millis(30), 7)))
	}
	for range 5 {
		got = append(got, publish(meshAt(millis(4), 0, 0)))
	}
	for _, p99 := range got {
		if p99 != "5ms" {
			t.Fatalf("p99 by round %q: the burst was written", got)
		}
	}
	for range LatencyRounds - 1 {
		if p99 := publish(meshAt(millis(4), millis(30), 30)); p99 != "5ms" {
			t.Fatalf("a lasting change written before %d rounds: %s", LatencyRounds, p99)
		}
	}
	if p99 := publish(meshAt(millis(4), millis(30), 30)); p99 != "50ms" {
		t.Fatalf("a lasting change not written after %d rounds: %s", LatencyRounds, p99)
	}
}

// A new group's first pings are slow (paths being set up) and stay in the
// windows for LinkWindow rounds: its p99 reads 200 ms until they leave.
// Then the group's own figure is written within LatencyRoundsSettling
// rounds (CI's healthy mesh, with the long hold from the start, showed its
// 200 ms for 45 rounds and corrected it in its quiet minutes); a burst
// after that is not written.
func TestANewGroupsFirstPingsLeaveItsFigure(t *testing.T) {
	tr := NewTracker()
	window := func(pings, slow int) *mesh { // pings a link, the first slow of them at 200 ms
		return fullMesh(2, threeNodes()).windows(func(int) map[time.Duration]int {
			return map[time.Duration]int{millis(180): slow, millis(4): pings - slow}
		})
	}
	var got []string
	for round := 1; round <= 80; round++ {
		m := window(min(round, peers.LinkWindow), map[bool]int{true: 1}[round <= peers.LinkWindow])
		if round >= 60 && round < 60+peers.LinkWindow {
			m = meshAt(millis(4), millis(30), 7) // a burst at round 60
		}
		got = append(got, tr.Publish(Summarize(m.input()), t0).Links.P99)
	}
	want := []string{}
	for round := 1; round <= 80; round++ {
		want = append(want, map[bool]string{true: "200ms", false: "5ms"}[round < peers.LinkWindow+LatencyRoundsSettling])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("p99 by round\n%q\nwant\n%q", got, want)
	}
}

// The first rounds' windows are thin (a ping or two a link): the count
// behind the figures is rewritten each time it doubles, and when it halves
// (a scale-down), never while it holds, so a steady mesh's status does not
// say "over 30 pings" forever. The figures themselves keep their hysteresis.
func TestTheSampleCountFollowsTheWindowsFilling(t *testing.T) {
	tr := NewTracker()
	filled := func(pings int, rtt time.Duration, perNode int) string {
		m := fullMesh(perNode, threeNodes()).windows(func(int) map[time.Duration]int { return map[time.Duration]int{rtt: pings} })
		l := tr.Publish(Summarize(m.input()), t0).Links
		return fmt.Sprintf("%s/%d", l.P99, l.Samples)
	}
	// The first round's pings were slower than the rest, within the band.
	got := []string{filled(1, millis(4), 2)}
	for pings := 2; pings <= peers.LinkWindow; pings++ {
		got = append(got, filled(pings, millis(0.8), 2))
	}
	got = append(got, filled(peers.LinkWindow, millis(0.8), 2), filled(peers.LinkWindow, millis(0.8), 1))
	want := []string{"5ms/30"}
	for pings := 2; pings <= peers.LinkWindow; pings++ {
		want = append(want, map[bool]string{true: fmt.Sprintf("5ms/%d", 30*pings), false: want[len(want)-1]}[pings&(pings-1) == 0])
	}
	want = append(want, "5ms/480", "5ms/120") // 6 pods → 3: 30 links → 6
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("p99/samples by round\n%q\nwant\n%q", got, want)
	}
}

// More than MaxSuspects places failing: the listed ten are the same every
// round, however the counts move (so no event churns), ranked by severity,
// the widest place, then the name.
func TestManySuspectsListStably(t *testing.T) {
	zones := map[string]string{}
	for i := range 15 {
		zones[fmt.Sprintf("node-%02d", i)] = fmt.Sprintf("zone-%02d", i)
	}
	tr := NewTracker()
	var first []string
	for round := range 4 {
		m := fullMesh(1, zones)
		for i := range 12 { // 12 pods unreachable, from a varying number of pingers
			victim := fmt.Sprintf("node-%02d-0", i)
			for j, p := range m.in.Pods {
				if p.Name != victim && (j+round)%7 != 0 {
					m.set(p.Name, victim, peers.LinkDown, i)
				}
			}
		}
		var listed []string
		for _, s := range tr.Publish(Summarize(m.input()), t0).Suspects {
			listed = append(listed, s.Kind+"/"+s.Name)
		}
		if len(listed) != MaxSuspects {
			t.Fatalf("round %d: %d suspects, want %d", round, len(listed), MaxSuspects)
		}
		if round == 0 {
			first = listed
		} else if !reflect.DeepEqual(listed, first) {
			t.Fatalf("round %d listed %v, round 0 %v", round, listed, first)
		}
	}
}

// A pod that misses one round is taken at its previous report; two rounds
// in a row, it is unreported. The status does not flap on one slow answer.
func TestOneMissedReportIsCarriedOver(t *testing.T) {
	tr := NewTracker()
	m := fullMesh(2, threeNodes())
	var got []string
	for _, missing := range [][]string{nil, {"node-1-0"}, nil, {"node-1-0"}, {"node-1-0"}, {"node-1-0"}} {
		in := m.input()
		for _, name := range missing {
			delete(in.Reports, name)
		}
		l := tr.Publish(Summarize(tr.Carry(in)), t0).Links
		got = append(got, fmt.Sprintf("%s unreported %d", l.Summary, l.UnreportedPods))
	}
	want := []string{"30/30 unreported 0", "30/30 unreported 0", "30/30 unreported 0", "30/30 unreported 0",
		"25/30 unreported 1", "25/30 unreported 1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rounds %q\nwant %q", got, want)
	}
}

// A new group's pods count only after an interval Ready, and their links
// are measured after their first pings: until then LINKS reads "pending",
// not "0/0". A group of one pod has no link to wait for.
func TestPendingBeforeAnythingIsMeasured(t *testing.T) {
	m := fullMesh(2, threeNodes())
	waiting := m.input()
	waiting.Pods = nil
	for _, p := range m.in.Pods {
		p.Counts = false
		waiting.Pods = append(waiting.Pods, p)
	}
	unmeasured := fullMesh(2, threeNodes())
	for pinger, r := range unmeasured.reports {
		for _, l := range r.Links {
			unmeasured.set(pinger, l.Peer, peers.LinkUnmeasured, 0)
		}
	}
	single := Input{Pods: []Pod{{Name: "only", Node: "node-1", Counts: true}}, Expected: map[string][]string{"only": nil}}
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{{"pods not counting yet", waiting, "pending"}, {"links not measured yet", unmeasured.input(), "pending"},
		{"one pod", single, "0/0"}, {"measured", m.input(), "30/30"}} {
		if got := NewTracker().Publish(Summarize(tc.in), t0).Links.Summary; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
