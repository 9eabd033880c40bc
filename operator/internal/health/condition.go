package health

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// LinksHealthyCondition is separate from Ready on purpose: a network fault
// must not make Flux's wait fail or the group look unreconciled.
const LinksHealthyCondition = "LinksHealthy"

// Reasons of LinksHealthy.
const (
	ReasonAllLinksUp = "AllLinksUp"
	ReasonLinksDown  = "LinksDown"
	ReasonLinksLossy = "LinksDegraded"
	ReasonUnmeasured = "Unmeasured"
)

// Ref names a suspect, "Kind/name": what tells two suspects apart.
func Ref(s v1alpha1.Suspect) string { return s.Kind + "/" + s.Name }

// Condition is LinksHealthy for a published result: False with the
// suspects named when any is listed (LinksDown when one is down, else
// LinksDegraded) or links are down, Unknown when nothing is measured yet,
// else True.
func Condition(l v1alpha1.LinksStatus, suspects []v1alpha1.Suspect) (metav1.ConditionStatus, string, string) {
	counts := fmt.Sprintf("%d/%d links down", l.Down, l.Reported)
	if l.Degraded > 0 {
		counts += fmt.Sprintf(", %d lossy", l.Degraded)
	}
	switch {
	case len(suspects) > 0:
		var named []string
		reason := ReasonLinksLossy
		for _, s := range suspects {
			named = append(named, Describe(s))
			if s.Severity != "Degraded" {
				reason = ReasonLinksDown
			}
		}
		return metav1.ConditionFalse, reason, fmt.Sprintf("%s; suspects: %s", counts, strings.Join(named, "; "))
	case l.Down > 0:
		return metav1.ConditionFalse, ReasonLinksDown, counts + "; no suspect yet"
	case l.Up == 0:
		return metav1.ConditionUnknown, ReasonUnmeasured, fmt.Sprintf("no link measured yet (%d expected)", l.Expected)
	}
	msg := fmt.Sprintf("%d/%d links up", l.Up, l.Expected)
	if l.Unmeasured > 0 || l.UnreportedPods > 0 {
		msg += fmt.Sprintf(" (%d unmeasured, %d pods unreported)", l.Unmeasured, l.UnreportedPods)
	}
	return metav1.ConditionTrue, ReasonAllLinksUp, msg
}

// Describe is one line about a suspect: "node peering-node-3 unreachable
// (8/8 links down)", "link mesh-a→mesh-b cannot reach its peer (1/1 links
// down)", "node peering-node-2 lossy both ways (18.0% of 640 segments
// retransmitted)".
func Describe(s v1alpha1.Suspect) string {
	what := strings.ToLower(s.Kind) + " " + s.Name
	if s.Node != "" {
		what += " on node " + s.Node
	}
	if s.Severity == "Degraded" {
		way := map[string]string{"CannotReach": "as it sends", "Unreachable": "as it receives", "CannotReach,Unreachable": "both ways"}[s.Reason]
		return fmt.Sprintf("%s lossy %s (%s retransmitted)", what, way, s.Loss)
	}
	if s.Kind == "Link" {
		return fmt.Sprintf("%s down (%s links)", what, s.ReportedBy)
	}
	reason := strings.NewReplacer("CannotReach", "cannot reach its peers", "Unreachable", "unreachable", ",", " and ").Replace(s.Reason)
	return fmt.Sprintf("%s %s (%s links down)", what, reason, s.ReportedBy)
}
