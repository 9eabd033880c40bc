package health

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/localize"
)

// Hysteresis, in rounds (one per pingInterval), not wall time. A Down
// finding is listed the first round it is seen (its links are down only
// after two consecutive failed pings already, so a real outage is named
// within three intervals); a Degraded one after two rounds in a row; either
// clears after two rounds without it.
const (
	AppearAfterDown     = 1
	AppearAfterDegraded = 2
	ClearAfter          = 2
	// LatencyBand is how many buckets (1-2-5 steps: three are a factor of
	// ten) a latency quantile must move from the written one, and
	// LatencyRounds how many rounds in a row it must stay that far, before
	// it is written again. Smaller moves are noise: a healthy 6-pod mesh on
	// a busy 2-core machine moved its p99 between 1, 2 and 5 ms for tens of
	// seconds at a time (5 writes in 5 minutes with a one-bucket band). The
	// hold outlasts a link's window: one stall of the machine that delays a
	// few pings moves the pooled p99 tenfold for exactly as long as those
	// pings stay in the windows (CI's healthy mesh wrote 5 → 50 → 5 ms with a
	// three-round hold), so only a change that lasts is written.
	//
	// A group's first pings are slow (its pods are still starting) and stay
	// in the windows for LinkWindow rounds: while they may (LinkWindow+1
	// rounds after the count of pings last doubled: a new group, a doubled
	// one), the hold is LatencyRoundsSettling, so a new group's figure is
	// its own within a minute at 2 s, not after 45 rounds.
	LatencyBand           = 3
	LatencyRounds         = peers.LinkWindow + 5
	LatencyRoundsSettling = 3
)

// Result is what a group's status shows.
type Result struct {
	Links    v1alpha1.LinksStatus
	Suspects []v1alpha1.Suspect
}

// Tracker turns a group's rounds into its published result: suspects
// appear and clear on evidence seen in consecutive rounds, latency moves
// by buckets. One per group; not safe for concurrent use (the collector
// runs one round at a time per group).
type Tracker struct {
	entries  map[string]*entry
	p50, p99 latency
	// samples is the count of pings in the windows the written latency
	// stands for (a count that moves every round would be a write every
	// round).
	samples int32
	// settling counts down the rounds whose windows may still hold the
	// group's first pings.
	settling int
	// last is each pod's latest report, and gaps how many rounds in a row
	// it has been carried over (Carry).
	last map[string]Report
	gaps map[string]int
}

// Carry fills a round's gaps: a pod that did not answer this round but did
// the round before is taken at its previous report, once. A single slow
// /links answer (a busy node, a full CPU) is not news, and would be two
// status writes (unreported, then reported again); two rounds in a row
// without an answer are.
func (t *Tracker) Carry(in Input) Input {
	if t.last == nil {
		t.last, t.gaps = map[string]Report{}, map[string]int{}
	}
	reports := make(map[string]Report, len(in.Reports))
	for pinger := range in.Expected {
		if r, ok := in.Reports[pinger]; ok {
			reports[pinger], t.last[pinger], t.gaps[pinger] = r, r, 0
		} else if r, ok := t.last[pinger]; ok && t.gaps[pinger] == 0 {
			reports[pinger], t.gaps[pinger] = r, 1
		} else {
			delete(t.last, pinger)
			delete(t.gaps, pinger)
		}
	}
	for pinger := range t.last {
		if _, expected := in.Expected[pinger]; !expected {
			delete(t.last, pinger) // left the group, or does not count now
			delete(t.gaps, pinger)
		}
	}
	in.Reports = reports
	return in
}

type entry struct {
	finding      localize.Finding
	seen, missed int // consecutive rounds
	published    bool
	since        time.Time
	// shown is what the status lists; it changes with the finding's
	// direction, severity or note, or its loss moving by half or more,
	// not with every round's counts (each change is a status write).
	shown     v1alpha1.Suspect
	shownLoss float64 // the finding's loss when shown was written
}

// NewTracker starts with nothing published.
func NewTracker() *Tracker {
	return &Tracker{entries: map[string]*entry{}, p50: latency{written: -1}, p99: latency{written: -1}}
}

// Publish takes a round's summary and returns what the status shows.
func (t *Tracker) Publish(s Summary, now time.Time) Result {
	current := map[string]bool{}
	for _, f := range s.Findings {
		key := f.Ref()
		current[key] = true
		e := t.entries[key]
		if e == nil {
			e = &entry{since: now}
			t.entries[key] = e
		}
		e.finding, e.seen, e.missed = f, e.seen+1, 0
		appear := AppearAfterDegraded
		if f.Severity == localize.Down {
			appear = AppearAfterDown
		}
		e.published = e.published || e.seen >= appear
	}
	for key, e := range t.entries {
		if current[key] {
			continue
		}
		e.seen, e.missed = 0, e.missed+1
		if !e.published || e.missed >= ClearAfter {
			delete(t.entries, key)
		}
	}

	var published []*entry
	for _, e := range t.entries {
		if e.published {
			published = append(published, e)
		}
	}
	// Stable: severity, the widest place, then the name; never the counts,
	// which move from round to round and would reorder (and re-announce)
	// a long list.
	slices.SortFunc(published, func(a, b *entry) int {
		severity := map[localize.Severity]int{localize.Down: 0, localize.Degraded: 1}
		rank := map[localize.Kind]int{localize.KindZone: 0, localize.KindNode: 1, localize.KindPod: 2, localize.KindLink: 3}
		return cmp.Or(cmp.Compare(severity[a.finding.Severity], severity[b.finding.Severity]),
			cmp.Compare(rank[a.finding.Kind], rank[b.finding.Kind]), strings.Compare(a.finding.Name, b.finding.Name))
	})
	r := Result{Links: s.Links}
	var degraded []localize.Finding
	for _, e := range published {
		if e.finding.Severity == localize.Degraded {
			degraded = append(degraded, e.finding)
		}
	}
	for _, l := range s.links {
		if !l.Down && slices.ContainsFunc(degraded, func(f localize.Finding) bool { return localize.Covers(f, s.pods[l.From], s.pods[l.To]) }) {
			r.Links.Degraded++
		}
	}
	for _, e := range published[:min(len(published), MaxSuspects)] {
		if next := suspect(e); e.shown.Name == "" || meaningful(e.shown, next, e.shownLoss, e.finding) {
			e.shown, e.shownLoss = next, e.finding.Loss
		}
		r.Suspects = append(r.Suspects, e.shown)
	}
	l := &r.Links
	l.Summary = fmt.Sprintf("%d/%d", l.Up, l.Expected)
	if l.Up+l.Down == 0 && (l.Expected > 0 || s.waiting > 0) {
		l.Summary = "pending" // nothing measured yet, and links to come
	}
	if l.Degraded > 0 {
		l.Summary += fmt.Sprintf(" (%d lossy)", l.Degraded)
	}
	if len(r.Suspects) > 0 {
		l.Suspect = r.Suspects[0].Kind + "/" + r.Suspects[0].Name
	}
	b50, samples := quantileBucket(s.Buckets, 0.50)
	b99, _ := quantileBucket(s.Buckets, 0.99)
	doubled := samples > 0 && samples >= 2*int(t.samples)
	halved := samples > 0 && 2*samples <= int(t.samples)
	if doubled {
		t.settling = peers.LinkWindow + 1
	}
	hold := LatencyRounds
	if t.settling > 0 {
		hold = LatencyRoundsSettling
		t.settling--
	}
	was50, was99 := t.p50.written, t.p99.written
	if b := t.p50.update(b50, hold); b >= 0 {
		l.P50 = bucketBound(b)
	}
	if b := t.p99.update(b99, hold); b >= 0 {
		l.P99 = bucketBound(b)
	}
	// The count is rewritten with the figures, and when it doubles or
	// halves (the first rounds' windows filling, a scale), not every round.
	// The figures are not measured afresh then: that would write whatever
	// transient the windows hold at that moment.
	if t.p50.written != was50 || t.p99.written != was99 || doubled || halved {
		t.samples = int32(samples)
	}
	l.Samples = t.samples
	return r
}

// suspect is a published finding as the status lists it.
func suspect(e *entry) v1alpha1.Suspect {
	f := e.finding
	reason := map[localize.Direction]string{localize.Out: "CannotReach", localize.In: "Unreachable", localize.Both: "CannotReach,Unreachable"}[f.Direction]
	s := v1alpha1.Suspect{Kind: string(f.Kind), Name: f.Name, Node: f.Node, Reason: reason, Severity: string(f.Severity),
		ReportedBy: fmt.Sprintf("%d/%d", f.Agreeing, f.Observing), Note: f.Ambiguous, Since: metav1.NewTime(e.since)}
	if f.Severity == localize.Down && !f.Since.IsZero() {
		s.Since = metav1.NewTime(f.Since)
	}
	if f.Segments > 0 && f.Severity == localize.Degraded {
		s.Loss = fmt.Sprintf("%.1f%% of %d segments", 100*f.Loss, f.Segments)
	}
	return s
}

// meaningful: the suspect changed in a way worth a status write (its
// loss compared with the loss it was shown with, not parsed back).
func meaningful(shown, next v1alpha1.Suspect, shownLoss float64, f localize.Finding) bool {
	if shown.Reason != next.Reason || shown.Severity != next.Severity || shown.Note != next.Note || shown.Node != next.Node {
		return true
	}
	return f.Severity == localize.Degraded && (f.Loss > 1.5*shownLoss || f.Loss < shownLoss/1.5)
}

// latency writes a quantile's bucket with hysteresis: out of the band
// for hold rounds in a row.
type latency struct {
	written, candidate, streak int
}

func (l *latency) update(b, hold int) int {
	switch {
	case b < 0:
		// nothing measured this round: keep what is written
	case l.written < 0:
		l.written = b
	case b-l.written < LatencyBand && l.written-b < LatencyBand:
		l.streak = 0 // within the band
	case l.streak > 0 && (b > l.written) == (l.candidate > l.written):
		l.streak++
		l.candidate = b // the latest of the rounds out of the band
	default:
		l.candidate, l.streak = b, 1
	}
	if l.streak >= hold {
		l.written, l.streak = l.candidate, 0
	}
	return l.written
}
