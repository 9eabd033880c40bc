// Package health turns a group's /links reports into its link counts,
// latency and suspects: pure functions, table-tested, and a tracker that
// publishes suspects only on evidence seen in consecutive rounds.
package health

import (
	"maps"
	"slices"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/localize"
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
	// Reports are the latest /links answers by pod, digested; a pod without
	// one did not answer (unreported, which is not down).
	Reports map[string]Report
}

// MaxSuspects is how many suspects the status lists.
const MaxSuspects = 10

// state of an expected link in a round.
type state int8

const (
	unreported state = iota // its pinger did not answer /links
	unmeasured              // no record yet, or not pinged enough to say
	up
	down
)

// observed is one expected link between counting pods, classified once for
// the summary and the matrix alike.
type observed struct {
	pinger, target string
	state          state
	record         Record
	report         *Report // the pinger's (nil when unreported)
}

// observe visits the expected links between the pods that count, in
// pinger order, each with its state and record. It visits rather than
// lists: a 1,000-pod full mesh has 999,000 of them.
func observe(in Input, visit func(observed)) {
	counts := map[string]bool{}
	for _, p := range in.Pods {
		counts[p.Name] = p.Counts
	}
	records := map[string]int{} // target → index in the pinger's report
	for _, pinger := range slices.Sorted(maps.Keys(in.Expected)) {
		if !counts[pinger] {
			continue
		}
		report, reported := in.Reports[pinger]
		clear(records)
		for i, r := range report.Links {
			records[r.Peer] = i
		}
		for _, target := range in.Expected[pinger] {
			if !counts[target] {
				continue
			}
			o := observed{pinger: pinger, target: target}
			i, ok := records[target]
			switch {
			case !reported:
				o.state = unreported
			case !ok:
				o.state, o.report = unmeasured, &report
			default:
				o.state, o.record, o.report = report.Links[i].State, report.Links[i], &report
			}
			visit(o)
		}
	}
}

// Summary is one round of a group, before the tracker: its link counts,
// the pooled RTT histogram of its up links, and the localizer's findings.
type Summary struct {
	Links    v1alpha1.LinksStatus
	Buckets  []int
	Findings []localize.Finding
	// What the findings were made of, to count the links they cover.
	pods  map[string]localize.Pod
	links []localize.Link
	// waiting pods do not count yet (new, not Ready, terminating).
	waiting int
}

// Summarize counts the links between pods that count and localizes what
// their states and loss say.
func Summarize(in Input) Summary {
	s := Summary{Buckets: make([]int, len(peers.RTTBucketBounds)+1), pods: map[string]localize.Pod{}}
	var lin localize.Input
	for _, p := range in.Pods {
		if !p.Counts {
			s.waiting++
			continue
		}
		lp := localize.Pod{Name: p.Name, Node: p.Node, Zone: p.Zone}
		s.pods[p.Name] = lp
		lin.Pods = append(lin.Pods, lp)
	}
	st := &s.Links
	for pinger := range in.Expected {
		if _, reported := in.Reports[pinger]; !reported && s.pods[pinger].Name != "" {
			st.UnreportedPods++
			lin.Unreported = append(lin.Unreported, pinger)
		}
	}
	for pinger, r := range in.Reports {
		if s.pods[pinger].Name == "" {
			continue // does not count
		}
		for i, n := range r.Buckets {
			if i < len(s.Buckets) {
				s.Buckets[i] += n
			}
		}
	}
	expected := 0
	for _, targets := range in.Expected {
		expected += len(targets)
	}
	s.links = make([]localize.Link, 0, expected) // sized once: 999,000 at a 1,000-pod full mesh
	observe(in, func(o observed) {
		st.Expected++
		if o.state == unreported {
			return
		}
		st.Reported++
		switch o.state {
		case unmeasured:
			st.Unmeasured++
			return
		case up:
			st.Up++
		case down:
			st.Down++
		}
		s.links = append(s.links, localize.Link{From: o.pinger, To: o.target, Down: o.state == down,
			Since: o.record.Since, Segments: o.record.Segments, Retransmits: o.record.Retransmits})
	})
	lin.Links = s.links
	s.Findings = localize.Localize(lin)
	return s
}

// quantileBucket is the bucket the q-quantile of a histogram falls in (-1
// when it is empty), and how many samples it holds.
func quantileBucket(buckets []int, q float64) (int, int) {
	total := 0
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return -1, 0
	}
	rank := max(1, int(q*float64(total)+0.999999)) // nearest rank
	seen := 0
	for i, n := range buckets {
		seen += n
		if seen >= rank {
			return i, total
		}
	}
	return len(buckets) - 1, total
}

// bucketBound is what a bucket's quantile reads as: its upper bound (the
// last bucket, above every bound, reads as the last bound).
func bucketBound(i int) string {
	return peers.RTTBucketBounds[min(i, len(peers.RTTBucketBounds)-1)].String()
}
