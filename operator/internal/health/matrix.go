package health

import (
	"cmp"
	"slices"
	"time"
)

// MaxMatrixPlaces is the most rows (and columns) a matrix has: above it the
// pods collapse into their nodes, and nodes into their zones, so the page
// stays usable at 1,000 pods.
const MaxMatrixPlaces = 60

// Matrix is a group's source × destination view for the web page: rows are
// pingers, columns targets, both in the order of Places.
type Matrix struct {
	Level  string  `json:"level"` // Pod, Node or Zone
	Places []Place `json:"places"`
	// Cells are the pairs with at least one link the fan-out asks for.
	Cells []Cell `json:"cells"`
	// MedianP99Ms is the median of the up links' p99: cells are coloured
	// against the group's own latency, not a fixed threshold.
	MedianP99Ms float64 `json:"medianP99Ms"`
	// Waiting counts the pods that do not count yet (new, not Ready,
	// terminating) and are left out.
	Waiting int `json:"waiting"`
}

// Place is a row and a column: a pod, a node or a zone.
type Place struct {
	Name string `json:"name"`
	Node string `json:"node,omitempty"`
	Zone string `json:"zone,omitempty"`
	Pods int32  `json:"pods"` // the counting pods it stands for
	// Unreported of them did not answer /links.
	Unreported int32 `json:"unreported,omitempty"`
	// Out and In are the margins: its outbound and inbound links.
	Out Tally `json:"out"`
	In  Tally `json:"in"`
}

// Tally counts measured links.
type Tally struct {
	Down     int32 `json:"down"`
	Measured int32 `json:"measured"`
}

// Cell is the links from one place to another. Kept per group between
// rounds (a 10-pod group has 90), so its counts are 32-bit.
type Cell struct {
	From       int32 `json:"from"`
	To         int32 `json:"to"`
	Up         int32 `json:"up,omitempty"`
	Down       int32 `json:"down,omitempty"`
	Unmeasured int32 `json:"unmeasured,omitempty"`
	Unreported int32 `json:"unreported,omitempty"` // their pinger did not answer
	// P99Ms is the worst p99 among the up links.
	P99Ms float64 `json:"p99Ms,omitempty"`
	// Segments and Retransmits sum the up links' TCP counts: their loss.
	Segments    int32 `json:"segments,omitempty"`
	Retransmits int32 `json:"retransmits,omitempty"`
	// Outcome and Since describe the oldest down link.
	Outcome string     `json:"outcome,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// BuildMatrix lays a round out as a matrix, at the finest level (pod, node,
// zone) with at most MaxMatrixPlaces places.
func BuildMatrix(in Input) Matrix {
	var pods []Pod
	for _, p := range in.Pods {
		if p.Counts {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b Pod) int {
		return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Name, b.Name))
	})
	m := Matrix{Level: "Pod", Waiting: len(in.Pods) - len(pods)}
	placeOf := func(p Pod) Place { return Place{Name: p.Name, Node: p.Node, Zone: p.Zone} }
	if len(pods) > MaxMatrixPlaces {
		m.Level, placeOf = "Node", func(p Pod) Place { return Place{Name: p.Node, Zone: p.Zone} }
		if distinct(pods, func(p Pod) string { return p.Node }) > MaxMatrixPlaces {
			m.Level, placeOf = "Zone", func(p Pod) Place { return Place{Name: p.Zone} }
		}
	}

	index := map[string]int{} // pod name → place
	at := map[string]int{}    // place name → place
	for _, p := range pods {
		pl := placeOf(p)
		i, ok := at[pl.Name]
		if !ok {
			i = len(m.Places)
			at[pl.Name] = i
			m.Places = append(m.Places, pl)
		}
		m.Places[i].Pods++
		if _, reported := in.Reports[p.Name]; !reported {
			m.Places[i].Unreported++
		}
		index[p.Name] = i
	}

	m.Places = slices.Clone(m.Places) // kept until the next round: no spare capacity
	cells := map[[2]int]*Cell{}
	var p99s []time.Duration
	observe(in, func(o observed) {
		from, to := index[o.pinger], index[o.target]
		c := cells[[2]int{from, to}]
		if c == nil {
			c = &Cell{From: int32(from), To: int32(to)}
			cells[[2]int{from, to}] = c
		}
		r := o.record
		switch o.state {
		case unreported:
			c.Unreported++
			return
		case unmeasured:
			c.Unmeasured++
			return
		case up:
			c.Up++
			p99s = append(p99s, r.P99)
			c.P99Ms = max(c.P99Ms, ms(r.P99))
			c.Segments, c.Retransmits = c.Segments+r.Segments, c.Retransmits+r.Retransmits
		case down:
			c.Down++
			m.Places[from].Out.Down++
			m.Places[to].In.Down++
			if since := time.Unix(0, r.Since).UTC(); c.Since == nil || since.Before(*c.Since) {
				c.Since, c.Outcome = &since, o.report.Outcomes[o.target]
			}
		}
		m.Places[from].Out.Measured++
		m.Places[to].In.Measured++
	})
	m.Cells = make([]Cell, 0, len(cells)) // kept until the next round: no spare capacity
	for _, c := range cells {
		m.Cells = append(m.Cells, *c)
	}
	slices.SortFunc(m.Cells, func(a, b Cell) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	if len(p99s) > 0 {
		slices.Sort(p99s)
		m.MedianP99Ms = ms(p99s[(len(p99s)-1)/2])
	}
	return m
}

func distinct(pods []Pod, key func(Pod) string) int {
	seen := map[string]bool{}
	for _, p := range pods {
		seen[key(p)] = true
	}
	return len(seen)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
