package health

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// An alert names what the status names: one info series per suspect,
// replaced when the suspects change and gone with the group.
func TestEverySuspectHasAnInfoSeries(t *testing.T) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "metrics-test", Name: "mesh"}
	defer forget(key)

	record(key, Result{Suspects: []v1alpha1.Suspect{
		{Kind: "Pod", Name: "mesh-a", Node: "node-1", Reason: "Unreachable", Severity: "Down"},
		{Kind: "Node", Name: "node-2", Reason: "CannotReach,Unreachable", Severity: "Degraded"},
	}})
	g.Expect(series(g, "peering_group_suspect_info")).To(Equal([]string{
		`kind=Node name=node-2 namespace=metrics-test node= peergroup=mesh reason=CannotReach,Unreachable severity=Degraded: 1`,
		`kind=Pod name=mesh-a namespace=metrics-test node=node-1 peergroup=mesh reason=Unreachable severity=Down: 1`,
	}))

	record(key, Result{Suspects: []v1alpha1.Suspect{{Kind: "Zone", Name: "zone-b", Reason: "Unreachable", Severity: "Down"}}})
	g.Expect(series(g, "peering_group_suspect_info")).To(Equal([]string{
		`kind=Zone name=zone-b namespace=metrics-test node= peergroup=mesh reason=Unreachable severity=Down: 1`,
	}), "a cleared suspect's series stays")

	forget(key)
	g.Expect(series(g, "peering_group_suspect_info")).To(BeEmpty())
}

// series lists a gauge family's series as "label=value …: value", sorted.
func series(g Gomega, name string) []string {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s: %g", strings.Join(labels, " "), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}
