package health

import (
	"fmt"
	"strings"
	"testing"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// layout renders a matrix compactly: its level, places with margins, and
// every cell that is not plainly up.
func layout(m Matrix) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s waiting=%d median=%gms\n", m.Level, m.Waiting, m.MedianP99Ms)
	for _, p := range m.Places {
		fmt.Fprintf(&b, "  %s node=%s zone=%s pods=%d unreported=%d out=%d/%d in=%d/%d\n",
			p.Name, p.Node, p.Zone, p.Pods, p.Unreported, p.Out.Down, p.Out.Measured, p.In.Down, p.In.Measured)
	}
	up := 0
	for _, c := range m.Cells {
		if c.Down == 0 && c.Unmeasured == 0 && c.Unreported == 0 {
			up++
			continue
		}
		fmt.Fprintf(&b, "  %d→%d up=%d down=%d unmeasured=%d unreported=%d outcome=%s\n",
			c.From, c.To, c.Up, c.Down, c.Unmeasured, c.Unreported, c.Outcome)
	}
	fmt.Fprintf(&b, "  %d cells all up\n", up)
	return b.String()
}

func TestBuildMatrix(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func() Input
		want  string
	}{
		{"pods ordered by zone, node, name; no cell for self", func() Input {
			return fullMesh(1, map[string]string{"node-1": "zone-b", "node-2": "zone-a", "node-3": "zone-a"}).input()
		}, `Pod waiting=0 median=2ms
  node-2-0 node=node-2 zone=zone-a pods=1 unreported=0 out=0/2 in=0/2
  node-3-0 node=node-3 zone=zone-a pods=1 unreported=0 out=0/2 in=0/2
  node-1-0 node=node-1 zone=zone-b pods=1 unreported=0 out=0/2 in=0/2
  6 cells all up
`},
		{"an unreachable pod is a down column; a silent pinger an unreported row", func() Input {
			m := fullMesh(1, threeNodes())
			for _, p := range []string{"node-1-0", "node-3-0"} {
				m.set(p, "node-2-0", peers.LinkDown, 1)
			}
			delete(m.reports, "node-3-0")
			return m.input()
		}, `Pod waiting=0 median=2ms
  node-1-0 node=node-1 zone=zone-a pods=1 unreported=0 out=1/2 in=0/1
  node-2-0 node=node-2 zone=zone-a pods=1 unreported=0 out=0/2 in=1/1
  node-3-0 node=node-3 zone=zone-b pods=1 unreported=1 out=0/0 in=0/2
  0→1 up=0 down=1 unmeasured=0 unreported=0 outcome=
  2→0 up=0 down=0 unmeasured=0 unreported=1 outcome=
  2→1 up=0 down=0 unmeasured=0 unreported=1 outcome=
  3 cells all up
`},
		{"pods that do not count are left out", func() Input {
			m := fullMesh(1, threeNodes())
			m.in.Pods[2].Counts = false
			m.set("node-1-0", "node-2-0", peers.LinkUnmeasured, 0)
			return m.input()
		}, `Pod waiting=1 median=2ms
  node-1-0 node=node-1 zone=zone-a pods=1 unreported=0 out=0/0 in=0/1
  node-2-0 node=node-2 zone=zone-a pods=1 unreported=0 out=0/1 in=0/0
  0→1 up=0 down=0 unmeasured=1 unreported=0 outcome=
  1 cells all up
`},
		{"more pods than places: nodes", func() Input {
			m := fullMesh(MaxMatrixPlaces/3+1, threeNodes())
			m.cut(func(p Pod) bool { return p.Node == "node-3" }, 2)
			return m.input()
		}, `Node waiting=0 median=2ms
  node-1 node= zone=zone-a pods=21 unreported=0 out=441/1302 in=441/1302
  node-2 node= zone=zone-a pods=21 unreported=0 out=441/1302 in=441/1302
  node-3 node= zone=zone-b pods=21 unreported=0 out=882/1302 in=882/1302
  0→2 up=0 down=441 unmeasured=0 unreported=0 outcome=
  1→2 up=0 down=441 unmeasured=0 unreported=0 outcome=
  2→0 up=0 down=441 unmeasured=0 unreported=0 outcome=
  2→1 up=0 down=441 unmeasured=0 unreported=0 outcome=
  5 cells all up
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := layout(BuildMatrix(tc.build())); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestBuildMatrixCollapsesManyNodesIntoZones(t *testing.T) {
	zones := map[string]string{}
	for i := range MaxMatrixPlaces + 1 {
		zones[fmt.Sprintf("node-%02d", i)] = fmt.Sprintf("zone-%d", i%3)
	}
	m := BuildMatrix(fullMesh(1, zones).input())
	if m.Level != "Zone" || len(m.Places) != 3 || len(m.Cells) != 9 {
		t.Fatalf("level %s, %d places, %d cells; want Zone, 3, 9", m.Level, len(m.Places), len(m.Cells))
	}
}
