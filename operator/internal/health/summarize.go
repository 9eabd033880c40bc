// Package health turns a group's /links reports into its link counts,
// latency and suspects: pure functions, table-tested.
package health

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Pod is a member of the group as the summary needs it.
type Pod struct {
	Name, Node, Zone string
	// Counts: Ready, not terminating and Ready for at least one interval.
	// Others never count against the mesh (rollouts and scale-ups must not
	// raise a false alarm).
	Counts bool
}

// Input is one round of a group.
type Input struct {
	Pods []Pod
	// Expected is each pinger's peers as the fan-out says (the peers API's
	// views), by pod name.
	Expected map[string][]string
	// Reports are the latest /links answers by pod; a pod without one did
	// not answer (unreported, which is not down).
	Reports map[string]peers.Links
}

// MaxSuspects is how many suspects the status lists.
const MaxSuspects = 10

// Summarize counts the links between pods that count and names the
// suspects, most severe first.
func Summarize(in Input) (v1alpha1.LinksStatus, []v1alpha1.Suspect) {
	pods := map[string]Pod{}
	for _, p := range in.Pods {
		pods[p.Name] = p
	}
	counts := func(name string) bool { return pods[name].Counts }

	var st v1alpha1.LinksStatus
	var p50s, p99s []time.Duration
	type measured struct {
		pinger, target string
		link           peers.Link
	}
	var links []measured
	for _, pinger := range slices.Sorted(maps.Keys(in.Expected)) {
		if !counts(pinger) {
			continue
		}
		report, reported := in.Reports[pinger]
		if !reported {
			st.UnreportedPods++
		}
		records := map[string]peers.Link{}
		for _, l := range report.Links {
			records[l.Peer] = l
		}
		for _, target := range in.Expected[pinger] {
			if !counts(target) {
				continue
			}
			st.Expected++
			if !reported {
				continue
			}
			st.Reported++
			l, ok := records[target]
			switch {
			case !ok || l.State == peers.LinkUnmeasured:
				st.Unmeasured++
				continue
			case l.State == peers.LinkUp:
				st.Up++
				p50s, p99s = append(p50s, l.RTTP50.Duration), append(p99s, l.RTTP99.Duration)
			case l.State == peers.LinkDown:
				st.Down++
			}
			links = append(links, measured{pinger, target, l})
		}
	}
	// Unreachable first; a pinger's links to unreachable pods are explained
	// by those pods and do not make it "cannot reach" (else, when half a mesh
	// is cut off, the healthy half would be accused too).
	inbound, outbound := map[string]*tally{}, map[string]*tally{}
	for _, m := range links {
		get(inbound, m.target).add(m.link)
	}
	for _, m := range links {
		if !inbound[m.target].failing() {
			get(outbound, m.pinger).add(m.link)
		}
	}
	st.Summary = fmt.Sprintf("%d/%d", st.Up, st.Expected)
	if len(p50s) > 0 {
		slices.Sort(p50s)
		slices.Sort(p99s)
		st.P50 = round(quantile(p50s, 0.50)).String()
		st.P99 = round(quantile(p99s, 0.99)).String()
	}
	return st, suspects(in.Pods, inbound, outbound)
}

// tally is the measured links observing one pod, in or out.
type tally struct {
	observed, down int
	since          time.Time // the oldest down link's
}

func get(m map[string]*tally, key string) *tally {
	if m[key] == nil {
		m[key] = &tally{}
	}
	return m[key]
}

func (t *tally) add(l peers.Link) {
	t.observed++
	if l.State == peers.LinkDown {
		t.down++
		if t.since.IsZero() || l.Since.Before(t.since) {
			t.since = l.Since
		}
	}
}

// failing: at least half of at least two observed links are down, and at
// least two of them (one lost link is not a verdict).
func (t *tally) failing() bool { return t != nil && t.down >= 2 && 2*t.down >= t.observed }

// suspects finds the failing pods, then stands a zone in for its pods when
// most of the zone's counting pods fail (over two or more nodes), and a node
// when most of its counting pods do (two or more): the answer to "which
// node is bad?" is the node, not its pods one by one.
func suspects(pods []Pod, inbound, outbound map[string]*tally) []v1alpha1.Suspect {
	failing := map[string]*found{} // by pod name, then by "Kind/name" once merged
	for _, p := range pods {
		if !p.Counts {
			continue
		}
		f := &found{Suspect: v1alpha1.Suspect{Kind: "Pod", Name: p.Name, Node: p.Node}, pods: 1}
		var reasons []string
		for _, side := range []struct {
			t      *tally
			reason string
		}{{inbound[p.Name], "Unreachable"}, {outbound[p.Name], "CannotReach"}} {
			if side.t.failing() {
				reasons = append(reasons, side.reason)
				f.absorb(side.t.down, side.t.observed, side.t.since)
			}
		}
		if len(reasons) > 0 {
			f.Reason = strings.Join(reasons, ",")
			failing[p.Name] = f
		}
	}
	merge(failing, pods, "Zone", func(p Pod) string { return p.Zone }, 2)
	merge(failing, pods, "Node", func(p Pod) string { return p.Node }, 1)

	out := slices.Collect(maps.Values(failing))
	// Most severe first: the widest place, then the most pods, then the
	// largest down fraction; names break ties.
	rank := map[string]int{"Zone": 0, "Node": 1, "Pod": 2}
	slices.SortFunc(out, func(a, b *found) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), cmp.Compare(b.pods, a.pods),
			cmp.Compare(b.fraction(), a.fraction()), strings.Compare(a.Name, b.Name))
	})
	var result []v1alpha1.Suspect
	for _, f := range out[:min(len(out), MaxSuspects)] {
		f.ReportedBy = fmt.Sprintf("%d/%d", f.down, f.observed)
		result = append(result, f.Suspect)
	}
	return result
}

// found is a suspect being built, with the links that accuse it.
type found struct {
	v1alpha1.Suspect
	down, observed int
	pods           int // how many pods it stands for
}

func (f *found) absorb(down, observed int, since time.Time) {
	f.down, f.observed = f.down+down, f.observed+observed
	if f.Since.IsZero() || since.Before(f.Since.Time) {
		f.Since = metav1.NewTime(since)
	}
}

func (f *found) fraction() float64 { return float64(f.down) / float64(max(f.observed, 1)) }

// merge replaces the failing pods of each place (a zone, a node) by the
// place, when more than half of the place's counting pods fail, it has two
// or more of them, and they span at least minNodes nodes.
func merge(failing map[string]*found, pods []Pod, kind string, placeOf func(Pod) string, minNodes int) {
	members, nodes := map[string][]string{}, map[string]map[string]bool{}
	for _, p := range pods {
		place := placeOf(p)
		if !p.Counts || place == "" {
			continue
		}
		members[place] = append(members[place], p.Name)
		if nodes[place] == nil {
			nodes[place] = map[string]bool{}
		}
		nodes[place][p.Node] = true
	}
	for _, place := range slices.Sorted(maps.Keys(members)) {
		names := members[place]
		var accused []*found
		for _, n := range names {
			if f := failing[n]; f != nil {
				accused = append(accused, f)
			}
		}
		if len(names) < 2 || 2*len(accused) <= len(names) || len(nodes[place]) < minNodes {
			continue
		}
		merged := &found{Suspect: v1alpha1.Suspect{Kind: kind, Name: place}}
		reasons := map[string]bool{}
		for _, f := range accused {
			merged.absorb(f.down, f.observed, f.Since.Time)
			merged.pods += f.pods
			for _, r := range strings.Split(f.Reason, ",") {
				reasons[r] = true
			}
			delete(failing, f.Name)
		}
		merged.Reason = strings.Join(slices.Sorted(maps.Keys(reasons)), ",")
		failing[kind+"/"+place] = merged
	}
}

// quantile is the nearest-rank q-quantile of sorted values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// round keeps two significant digits, so jitter does not rewrite the status.
func round(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	unit := time.Duration(math.Pow(10, math.Floor(math.Log10(float64(d)))-1))
	return (d + unit/2) / unit * unit
}
