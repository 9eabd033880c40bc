// Package localize names the fewest components that explain what a mesh's
// links say: the pods, nodes, zones or single paths where the network
// breaks (Down) or loses packets (Degraded). It is pure: the operator feeds
// it a round of /links reports; a scenario generator feeds it ground truth
// and scores it (corpus_test.go).
//
// Every measured link pinger → target depends on components: the pinger's
// send side, the target's receive side, the nodes' and zones' data planes
// between them, and the path itself. A broken component makes the links
// through it fail. The localizer explains the failing links greedily with
// the component that explains the most of them, as long as the links it
// covers mostly agree (a component is named only when at least Purity of
// its still-unexplained links fail, and at least two of them do), trying
// every tied choice to the end and keeping the smallest explanation. So a
// pod whose pings all fail explains itself before it can accuse its
// targets, two broken senders are named rather than the healthy pods they
// both ping, and a single broken path, which no pod explains, is a Link.
// Directions are symmetric: "cannot send" (Out) and "cannot be reached"
// (In) are separate candidates, scored alike.
//
// Loss is a rate with a sample count: each link reports the TCP segments
// its pinger sent and retransmitted. A component is Degraded when its
// links, pooled, lost significantly more than the group's own baseline
// (its pooled loss), and still do without their worst link (or, for
// a node or zone, without its worst pod or node): one lossy path must not
// make its whole pod look lossy.
package localize

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Pod is a member that counts (Ready for an interval, not terminating).
type Pod struct{ Name, Node, Zone string }

// Link is one measured directed link of a round.
// Compact (56 bytes): a 1,000-pod full mesh holds 999,000 of them a round.
type Link struct {
	From, To string
	// Since is when it went down, in Unix nanoseconds.
	Since int64
	// Segments and Retransmits: the pinger's TCP segments to the target
	// over the window and how many were retransmitted.
	Segments, Retransmits int32
	Down                  bool // its pinger saw it down
}

// Input is a round: the counting pods and the measured links between them
// (a pinger that did not report contributes none).
type Input struct {
	Pods  []Pod
	Links []Link
	// Unreported pods did not answer the operator: when links alone
	// cannot tell two places apart (a cut between two zones seen from one
	// side), the place that also went silent is the likelier.
	Unreported []string
}

// Kind of a component.
type Kind string

const (
	KindPod  Kind = "Pod"
	KindNode Kind = "Node"
	KindZone Kind = "Zone"
	KindLink Kind = "Link"
)

// Direction of a fault, as the component sees it.
type Direction string

const (
	Out  Direction = "Out"  // cannot send (its links to others fail)
	In   Direction = "In"   // cannot be reached (links to it fail)
	Both Direction = "Both" // both
)

// Severity of a fault.
type Severity string

const (
	Down     Severity = "Down"     // its links fail
	Degraded Severity = "Degraded" // its links lose packets that TCP retransmits
)

// Finding is a component named as where the mesh breaks.
type Finding struct {
	Kind Kind
	Name string // a pod, node or zone; for a Link "from→to"
	// From and To are a Link's pinger and target pods.
	From, To  string
	Node      string // a pod's node
	Direction Direction
	Severity  Severity
	// Agreeing of Observing links (in its scope, not explained by another
	// finding) are down (Down) or were counted for its loss (Degraded).
	Agreeing, Observing int
	// Loss is the retransmitted fraction over Segments of its links
	// (Degraded; Down findings carry what their up links lost, if any).
	Loss     float64
	Segments int
	Since    time.Time // the oldest of its down links (Down)
	// Ambiguous says what the data cannot tell apart, when it cannot: the
	// only pod of a node, one observer, two zones.
	Ambiguous string
}

// Covers: a link from → to goes through the finding's component in its
// direction (for a Link, is that path).
func Covers(f Finding, from, to Pod) bool {
	out, in := f.Direction != In, f.Direction != Out
	switch f.Kind {
	case KindPod:
		return out && from.Name == f.Name || in && to.Name == f.Name
	case KindNode:
		return from.Node != to.Node && (out && from.Node == f.Name || in && to.Node == f.Name)
	case KindZone:
		return from.Zone != to.Zone && (out && from.Zone == f.Name || in && to.Zone == f.Name)
	case KindLink:
		return from.Name == f.From && to.Name == f.To || f.Direction == Both && from.Name == f.To && to.Name == f.From
	}
	return false
}

// Ref names a finding: "Kind/name".
func (f Finding) Ref() string { return string(f.Kind) + "/" + f.Name }

// Tunables, measured on the corpus (corpus_test.go).
const (
	// Purity: the least fraction of a component's unexplained links that
	// must fail for it to be named Down.
	Purity = 0.75
	// MinAgreeing failing links name a pod, node or zone (one is a Link).
	MinAgreeing = 2
	// BaselineFloor is the least loss rate taken as the group's baseline:
	// healthy links retransmit a segment now and then.
	BaselineFloor = 0.002
	// MinLoss is the least pooled loss a Degraded component shows.
	MinLoss = 0.005
	// LossAlpha: a component's retransmits are that unlikely (Poisson
	// tail) at the baseline rate, and LeaveOneOutAlpha after removing its
	// worst link, pod or node. A round tests a few thousand components.
	LossAlpha        = 1e-6
	LeaveOneOutAlpha = 1e-4
	// MinRetransmits a Degraded component has.
	MinRetransmits = 3
	// maxBranches bounds the tied choices tried at each of the first
	// branchDepth steps (later steps take the first).
	maxBranches = 4
	branchDepth = 2
)

// scope is a candidate component and the links it covers.
type scope struct {
	kind      Kind
	name      string
	direction Direction
	links     []int32 // indexes into Input.Links
	// groups splits the links for the leave-one-out test: by link for a
	// pod, by pod for a node, by node for a zone.
	groupOf func(Link) string
	// silent counts its pods that did not answer the operator.
	silent int
}

// Localize names the fewest components that explain the round's failing
// and lossy links, most severe first.
func Localize(in Input) []Finding {
	pods := map[string]Pod{}
	for _, p := range in.Pods {
		pods[p.Name] = p
	}
	valid := func(l Link) bool {
		_, from := pods[l.From]
		_, to := pods[l.To]
		return from && to && l.From != l.To
	}
	links := in.Links // read only: copied only when some must go
	if !all(links, valid) {
		links = nil
		for _, l := range in.Links {
			if valid(l) {
				links = append(links, l)
			}
		}
	}
	scopes := candidates(pods, links)
	silent := map[Kind]map[string]int{KindPod: {}, KindNode: {}, KindZone: {}} // silent pods per place
	for _, name := range in.Unreported {
		if p, ok := pods[name]; ok {
			silent[KindPod][p.Name]++
			silent[KindNode][p.Node]++
			silent[KindZone][p.Zone]++
		}
	}
	for _, sc := range scopes {
		if sc.kind != KindLink {
			sc.silent = silent[sc.kind][sc.name]
		}
	}
	down := explainDown(links, scopes)
	findings := describeDown(down, links, pods)
	findings = append(findings, explainLoss(links, scopes, pods)...)
	findings = mergeDirections(findings)
	findings = promote(findings, links, pods)
	findings = absorb(findings, pods)
	annotate(findings, pods, links)
	slices.SortFunc(findings, compareFindings)
	return findings
}

func all[T any](s []T, ok func(T) bool) bool {
	for _, v := range s {
		if !ok(v) {
			return false
		}
	}
	return true
}

// candidates are every pod, node and zone in each direction, and every
// link that failed or lost packets (a path that did neither can explain
// nothing; a 1,000-pod full mesh has 999,000).
func candidates(pods map[string]Pod, links []Link) []*scope {
	linkName := func(l Link) string { return l.From + "→" + l.To }
	// Each level's places, and how a place's links are grouped for the
	// leave-worst-out test: a pod's by link, a node's by its own pod on
	// the link, a zone's by its own node. A node's or zone's scope is the
	// links crossing its boundary.
	levels := []struct {
		kind  Kind
		of    func(Pod) string
		group func(Pod) string // nil: by link
	}{
		{KindPod, func(p Pod) string { return p.Name }, nil},
		{KindNode, func(p Pod) string { return p.Node }, func(p Pod) string { return p.Name }},
		{KindZone, func(p Pod) string { return p.Zone }, func(p Pod) string { return p.Node }},
	}
	var scopes []*scope
	newScope := func(kind Kind, name string, d Direction, groupOf func(Link) string) *scope {
		s := &scope{kind: kind, name: name, direction: d, groupOf: groupOf}
		scopes = append(scopes, s)
		return s
	}
	type trio struct{ out, in, both *scope } // a place's scopes
	places := make([]map[string]*trio, len(levels))
	for i := range places {
		places[i] = map[string]*trio{}
	}
	placeOf := func(li int, place string) *trio {
		t := places[li][place]
		if t == nil {
			lv := levels[li]
			groupOf := linkName
			if lv.group != nil {
				of, group := lv.of, lv.group
				groupOf = func(l Link) string {
					if of(pods[l.From]) == place {
						return group(pods[l.From])
					}
					return group(pods[l.To])
				}
			}
			t = &trio{newScope(lv.kind, place, Out, groupOf), newScope(lv.kind, place, In, groupOf), newScope(lv.kind, place, Both, groupOf)}
			places[li][place] = t
		}
		return t
	}
	paths := map[string]*scope{}
	// Two walks over the links: the first sizes each scope, the second
	// fills it (a 1,000-pod full mesh puts ~10 million indexes in scopes;
	// grown by appending, they cost five times that).
	sizes := map[*scope]int{}
	for walk := range 2 {
		put := func(s *scope, i int) {
			if walk == 0 {
				sizes[s]++
				return
			}
			if s.links == nil {
				s.links = make([]int32, 0, sizes[s])
			}
			s.links = append(s.links, int32(i))
		}
		for i, l := range links {
			a, b := pods[l.From], pods[l.To]
			if l.Down || l.Retransmits > 0 {
				name := linkName(l)
				if paths[name] == nil {
					paths[name] = newScope(KindLink, name, Out, linkName)
				}
				put(paths[name], i)
			}
			for li, lv := range levels {
				from, to := lv.of(a), lv.of(b)
				if from == to {
					continue
				}
				if from != "" {
					t := placeOf(li, from)
					put(t.out, i)
					put(t.both, i)
				}
				if to != "" {
					t := placeOf(li, to)
					put(t.in, i)
					put(t.both, i)
				}
			}
		}
	}
	scopes = slices.DeleteFunc(scopes, func(s *scope) bool { return len(s.links) == 0 })
	order := func(s *scope) string { return string(s.kind) + "/" + s.name + "/" + string(s.direction) }
	slices.SortFunc(scopes, func(a, b *scope) int { return cmp.Compare(order(a), order(b)) })
	return scopes
}

// chosen is a component named Down, with the links it explains.
type chosen struct {
	s         *scope
	explained []int32
	observing int
}

// explainDown covers the down links greedily, trying each tied best choice
// to the end and keeping the explanation with the fewest components (then
// the one whose components cover the most links: more observers agree).
func explainDown(links []Link, scopes []*scope) []chosen {
	explained := make([]bool, len(links))
	return bestCover(links, scopes, explained, 0)
}

func bestCover(links []Link, scopes []*scope, explained []bool, depth int) []chosen {
	type option struct {
		s              *scope
		gain, observed int
	}
	var options []option
	for _, s := range scopes {
		if s.direction == Both {
			continue // Down is explained one direction at a time, then merged
		}
		gain, observed := 0, 0
		for _, i := range s.links {
			if explained[i] {
				continue
			}
			observed++
			if links[i].Down {
				gain++
			}
		}
		least := MinAgreeing
		if s.kind == KindLink {
			least = 1
		}
		if gain < least || float64(gain) < Purity*float64(observed) {
			continue
		}
		options = append(options, option{s, gain, observed})
	}
	if len(options) == 0 {
		return nil
	}
	// The most explained first; among equals the purest, then the one
	// whose pods also went silent, then the narrowest (a pod before the
	// node it is the only one of), then by name.
	rank := map[Kind]int{KindLink: 0, KindPod: 1, KindNode: 2, KindZone: 3}
	slices.SortStableFunc(options, func(a, b option) int {
		return cmp.Or(cmp.Compare(b.gain, a.gain), cmp.Compare(b.gain*a.observed, a.gain*b.observed),
			cmp.Compare(b.s.silent, a.s.silent), cmp.Compare(rank[a.s.kind], rank[b.s.kind]))
	})
	// The greedy choice is not always the smallest explanation (a zone
	// boundary may cover more links than either of two broken senders in
	// it): the first steps try the best few choices to the end.
	branches := options[:min(len(options), maxBranches)]
	if depth >= branchDepth {
		branches = branches[:1]
	}
	var result []chosen
	for _, o := range branches {
		mark := slices.Clone(explained)
		c := chosen{s: o.s, observing: o.observed}
		for _, i := range o.s.links {
			if !mark[i] && links[i].Down {
				mark[i] = true
				c.explained = append(c.explained, i)
			}
		}
		rest := bestCover(links, scopes, mark, depth+1)
		candidate := append([]chosen{c}, rest...)
		if result == nil || better(candidate, result) {
			result = candidate
		}
	}
	return result
}

// better: the cheaper explanation (a single path is one more coincidence
// than a pod, node or zone failing as a whole, so it costs more), then the
// one whose components more links observe, then the one naming silent pods.
func better(a, b []chosen) bool {
	if ca, cb := cost(a), cost(b); ca != cb {
		return ca < cb
	}
	if observed(a) != observed(b) {
		return observed(a) > observed(b)
	}
	return silent(a) > silent(b)
}

func cost(cs []chosen) float64 {
	c := 0.0
	for _, x := range cs {
		c++
		if x.s.kind == KindLink {
			c += 0.5
		}
	}
	return c
}

func silent(cs []chosen) int {
	n := 0
	for _, c := range cs {
		n += c.s.silent
	}
	return n
}

func observed(cs []chosen) int {
	n := 0
	for _, c := range cs {
		n += c.observing
	}
	return n
}

func describeDown(cs []chosen, links []Link, pods map[string]Pod) []Finding {
	var out []Finding
	for _, c := range cs {
		f := Finding{Kind: c.s.kind, Name: c.s.name, Direction: c.s.direction, Severity: Down,
			Agreeing: len(c.explained), Observing: c.observing}
		for _, i := range c.explained {
			if since := time.Unix(0, links[i].Since); f.Since.IsZero() || since.Before(f.Since) {
				f.Since = since
			}
		}
		if c.s.kind == KindLink {
			l := links[c.s.links[0]]
			f.From, f.To = l.From, l.To
		}
		if c.s.kind == KindPod {
			f.Node = pods[c.s.name].Node
		}
		out = append(out, f)
	}
	return out
}

// explainLoss finds the Degraded components among the links that are up,
// each against the group's baseline: the pooled loss of the other up links
// (not in its scope, not explained yet), so a fault on half the mesh's
// links does not raise its own bar.
func explainLoss(links []Link, scopes []*scope, pods map[string]Pod) []Finding {
	used := downLinks(links) // down, or explained by a Degraded finding
	var out []Finding
	for {
		totalR, totalN := 0, 0
		for i, l := range links {
			if !used[i] {
				totalR, totalN = totalR+int(l.Retransmits), totalN+int(l.Segments)
			}
		}
		var best *scope
		var bestExcess float64
		var bestR, bestN, bestObs int
		for _, s := range scopes {
			r, n, obs := 0, 0, 0
			for _, i := range s.links {
				if !used[i] {
					r, n, obs = r+int(links[i].Retransmits), n+int(links[i].Segments), obs+1
				}
			}
			baseline := BaselineFloor
			if totalN > n {
				baseline = max(float64(totalR-r)/float64(totalN-n), BaselineFloor)
			}
			if !lossy(r, n, baseline) {
				continue
			}
			if s.kind != KindLink && !withoutWorst(s, links, used, baseline) {
				continue
			}
			// The most significant first: a lossy path stands out more than
			// the node it crosses, whose other links only dilute it.
			excess := -math.Log(poissonTail(r, float64(n)*baseline))
			if best == nil || excess > bestExcess+1e-9 {
				best, bestExcess, bestR, bestN, bestObs = s, excess, r, n, obs
			}
		}
		if best == nil {
			return out
		}
		f := Finding{Kind: best.kind, Name: best.name, Direction: best.direction, Severity: Degraded,
			Agreeing: bestObs, Observing: bestObs, Loss: float64(bestR) / float64(bestN), Segments: bestN}
		for _, i := range best.links {
			if !used[i] {
				used[i] = true
				if best.kind == KindLink {
					f.From, f.To = links[i].From, links[i].To
				}
			}
		}
		if best.kind == KindPod {
			f.Node = pods[best.name].Node
		}
		out = append(out, f)
	}
}

// lossy: r retransmits of n segments are significantly above baseline.
func lossy(r, n int, baseline float64) bool {
	if n == 0 || r < MinRetransmits {
		return false
	}
	return float64(r)/float64(n) >= max(MinLoss, 2*baseline) && poissonTail(r, float64(n)*baseline) <= LossAlpha
}

// poissonTail is P(X ≥ r) for X ~ Poisson(mean): how likely r or more
// retransmits are at the baseline rate. Summed from r up (the terms fall
// fast past the mean); 1 when r is not above the mean.
func poissonTail(r int, mean float64) float64 {
	if float64(r) <= mean {
		return 1
	}
	if mean <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(float64(r) + 1)
	term := math.Exp(-mean + float64(r)*math.Log(mean) - lg)
	sum := term
	for k := r + 1; term > sum*1e-12 && k < r+100000; k++ {
		term *= mean / float64(k)
		sum += term
	}
	return min(sum, 1)
}

// withoutWorst: the component's unexplained links are still significantly
// lossy without their worst group (link, pod or node), so the loss is
// spread over it and not one path's.
func withoutWorst(s *scope, links []Link, used []bool, baseline float64) bool {
	type sum struct{ r, n int }
	groups := map[string]sum{}
	total := sum{}
	for _, i := range s.links {
		if used[i] {
			continue
		}
		g := groups[s.groupOf(links[i])]
		g.r, g.n = g.r+int(links[i].Retransmits), g.n+int(links[i].Segments)
		groups[s.groupOf(links[i])] = g
		total.r, total.n = total.r+int(links[i].Retransmits), total.n+int(links[i].Segments)
	}
	if len(groups) < 2 {
		return false
	}
	worst := sum{}
	for _, g := range groups {
		if g.r > worst.r {
			worst = g
		}
	}
	r, n := total.r-worst.r, total.n-worst.n
	if n == 0 || r == 0 {
		return false
	}
	return poissonTail(r, float64(n)*baseline) <= LeaveOneOutAlpha
}

// mergeDirections joins a component's In and Out findings of one severity
// into Both (and a path's two directions into one Link).
func mergeDirections(fs []Finding) []Finding {
	key := func(f Finding) string {
		name := f.Name
		if f.Kind == KindLink {
			name = pairName(f.From, f.To)
		}
		return string(f.Kind) + "/" + name + "/" + string(f.Severity)
	}
	var out []Finding
	at := map[string]int{}
	for _, f := range fs {
		k := key(f)
		i, seen := at[k]
		if !seen {
			at[k] = len(out)
			out = append(out, f)
			continue
		}
		m := &out[i]
		if m.Direction != f.Direction || m.Kind == KindLink && m.From != f.From {
			m.Direction = Both
		}
		if m.Kind == KindLink {
			m.Name = pairName(f.From, f.To)
			m.From, m.To = min(f.From, f.To), max(f.From, f.To)
		}
		m.Agreeing, m.Observing = m.Agreeing+f.Agreeing, m.Observing+f.Observing
		if m.Segments+f.Segments > 0 {
			m.Loss = (m.Loss*float64(m.Segments) + f.Loss*float64(f.Segments)) / float64(m.Segments+f.Segments)
		}
		m.Segments += f.Segments
		if !f.Since.IsZero() && (m.Since.IsZero() || f.Since.Before(m.Since)) {
			m.Since = f.Since
		}
	}
	return out
}

// promote replaces two or more Degraded pods of one node by the node, when
// its cross-node links pooled are lossy too (the loss of a node's data
// plane can land on some of its pods more than others by chance, and fail
// the node's leave-worst-out test); and two or more nodes of a zone by the
// zone, likewise.
func promote(fs []Finding, links []Link, pods map[string]Pod) []Finding {
	zoneOfNode := map[string]string{}
	for _, p := range pods {
		zoneOfNode[p.Node] = p.Zone
	}
	for _, level := range []struct {
		from, to Kind
		placeOf  func(Finding) string
		crosses  func(a, b Pod) (string, string)
	}{
		{KindPod, KindNode, func(f Finding) string { return f.Node }, func(a, b Pod) (string, string) { return a.Node, b.Node }},
		{KindNode, KindZone, func(f Finding) string { return zoneOfNode[f.Name] }, func(a, b Pod) (string, string) { return a.Zone, b.Zone }},
	} {
		groups := map[string][]int{}
		named := map[string]bool{}
		for i, f := range fs {
			if f.Severity != Degraded {
				continue
			}
			if f.Kind == level.to {
				named[f.Name] = true
			}
			if f.Kind == level.from && level.placeOf(f) != "" {
				groups[level.placeOf(f)] = append(groups[level.placeOf(f)], i)
			}
		}
		drop := map[int]bool{}
		for _, place := range slices.Sorted(maps.Keys(groups)) {
			members := groups[place]
			if len(members) < 2 || named[place] {
				continue
			}
			r, n, obs := 0, 0, 0
			sc := &scope{kind: level.to, name: place, direction: Both, groupOf: func(l Link) string {
				if a, _ := level.crosses(pods[l.From], pods[l.To]); a == place {
					return l.From
				}
				return l.To
			}}
			for i, l := range links {
				a, b := level.crosses(pods[l.From], pods[l.To])
				if l.Down || a == b || a != place && b != place {
					continue
				}
				r, n, obs = r+int(l.Retransmits), n+int(l.Segments), obs+1
				sc.links = append(sc.links, int32(i))
			}
			baseline := baselineOutside(links, func(a, b Pod) bool {
				x, y := level.crosses(a, b)
				return x != y && (x == place || y == place)
			}, pods)
			if !lossy(r, n, baseline) || !withoutWorst(sc, links, downLinks(links), baseline) {
				continue
			}
			f := Finding{Kind: level.to, Name: place, Severity: Degraded, Agreeing: obs, Observing: obs,
				Loss: float64(r) / float64(n), Segments: n}
			for _, i := range members {
				f.Direction = union(f.Direction, fs[i].Direction)
				drop[i] = true
			}
			fs = append(fs, f)
		}
		fs = deleteIndexes(fs, drop)
	}
	return fs
}

// absorb drops a Degraded finding inside another (a pod on a named node, a
// node in a named zone, a path from or to a named pod or node), and a down
// path through a Degraded component, widening the direction of the one that
// stays.
func absorb(fs []Finding, pods map[string]Pod) []Finding {
	zoneOfNode := map[string]string{}
	for _, p := range pods {
		zoneOfNode[p.Node] = p.Zone
	}
	inside := func(g, f Finding) bool {
		if f.Severity != Degraded {
			return false
		}
		if g.Kind == KindLink && g.Severity == Down {
			// Two pings in a row lost through a lossy component: its loss
			// explains the path's failure.
			return Covers(f, pods[g.From], pods[g.To])
		}
		if g.Severity != Degraded {
			return false
		}
		ends := []Pod{pods[g.From], pods[g.To]}
		switch f.Kind {
		case KindZone:
			return g.Kind == KindNode && zoneOfNode[g.Name] == f.Name || g.Kind == KindPod && pods[g.Name].Zone == f.Name ||
				g.Kind == KindLink && slices.ContainsFunc(ends, func(p Pod) bool { return p.Zone == f.Name })
		case KindNode:
			return g.Kind == KindPod && pods[g.Name].Node == f.Name ||
				g.Kind == KindLink && slices.ContainsFunc(ends, func(p Pod) bool { return p.Node == f.Name })
		case KindPod:
			return g.Kind == KindLink && (g.From == f.Name || g.To == f.Name)
		}
		return false
	}
	drop := map[int]bool{}
	for i := range fs {
		for j := range fs {
			if i != j && !drop[j] && inside(fs[i], fs[j]) {
				if fs[i].Kind != KindLink {
					fs[j].Direction = union(fs[j].Direction, fs[i].Direction)
				}
				drop[i] = true
				break
			}
		}
	}
	return deleteIndexes(fs, drop)
}

// baselineOutside is the pooled loss of the up links a place does not
// cover (at least BaselineFloor).
func baselineOutside(links []Link, covers func(a, b Pod) bool, pods map[string]Pod) float64 {
	r, n := 0, 0
	for _, l := range links {
		if !l.Down && !covers(pods[l.From], pods[l.To]) {
			r, n = r+int(l.Retransmits), n+int(l.Segments)
		}
	}
	if n == 0 {
		return BaselineFloor
	}
	return max(float64(r)/float64(n), BaselineFloor)
}

func downLinks(links []Link) []bool {
	down := make([]bool, len(links))
	for i, l := range links {
		down[i] = l.Down
	}
	return down
}

func union(a, b Direction) Direction {
	if a == "" || a == b {
		return b
	}
	return Both
}

func deleteIndexes(fs []Finding, drop map[int]bool) []Finding {
	var out []Finding
	for i, f := range fs {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out
}

func pairName(a, b string) string { return min(a, b) + "↔" + max(a, b) }

// annotate says what the data cannot tell apart: a pod that is its node's
// only member (the node could be at fault as well), a pod or link seen by
// one observer, and a cut between the only two zones.
func annotate(fs []Finding, pods map[string]Pod, links []Link) {
	perNode, zones := map[string]int{}, map[string]bool{}
	for _, p := range pods {
		perNode[p.Node]++
		zones[p.Zone] = true
	}
	observers := map[string]map[string]bool{} // target → pingers, for the findings' targets only
	for _, f := range fs {
		if f.Kind == KindPod {
			observers[f.Name] = map[string]bool{}
		} else if f.Kind == KindLink {
			observers[f.To] = map[string]bool{}
		}
	}
	for _, l := range links {
		if seen, ok := observers[l.To]; ok {
			seen[l.From] = true
		}
	}
	for i := range fs {
		f := &fs[i]
		var notes []string
		switch f.Kind {
		case KindPod:
			if f.Node != "" && perNode[f.Node] == 1 {
				notes = append(notes, "the only pod of the group on node "+f.Node+": the pod and its node look alike")
			}
			if f.Direction != Out && len(observers[f.Name]) < 2 {
				notes = append(notes, "pinged by fewer than 2 pods")
			}
		case KindLink:
			if len(observers[f.To]) < 2 {
				notes = append(notes, f.To+" is pinged by fewer than 2 pods: the path and its target look alike")
			}
		case KindNode:
			if len(perNode) == 2 {
				notes = append(notes, "the group spans two nodes: a cut between them looks the same from either")
			}
		case KindZone:
			if len(zones) == 2 {
				notes = append(notes, "the group spans two zones: a cut between them looks the same from either")
			}
		}
		f.Ambiguous = strings.Join(notes, "; ")
	}
}

// compareFindings ranks most severe first: Down before Degraded, the
// widest place first, then the most links, then names (stable: the same
// faults always list in the same order).
func compareFindings(a, b Finding) int {
	severity := map[Severity]int{Down: 0, Degraded: 1}
	rank := map[Kind]int{KindZone: 0, KindNode: 1, KindPod: 2, KindLink: 3}
	return cmp.Or(cmp.Compare(severity[a.Severity], severity[b.Severity]), cmp.Compare(rank[a.Kind], rank[b.Kind]),
		cmp.Compare(b.Agreeing, a.Agreeing), strings.Compare(a.Name, b.Name))
}
