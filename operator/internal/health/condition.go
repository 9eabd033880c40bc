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
	ReasonUnmeasured = "Unmeasured"
)

// Ref names a suspect, "Kind/name": what tells two suspects apart.
func Ref(s v1alpha1.Suspect) string { return s.Kind + "/" + s.Name }

// Condition is LinksHealthy for a summary: False with the suspects named
// when any link is down, Unknown when nothing is measured yet, else True.
func Condition(l v1alpha1.LinksStatus, suspects []v1alpha1.Suspect) (metav1.ConditionStatus, string, string) {
	switch {
	case l.Down > 0 && len(suspects) > 0:
		var named []string
		for _, s := range suspects {
			named = append(named, Describe(s))
		}
		return metav1.ConditionFalse, ReasonLinksDown, fmt.Sprintf("%d/%d links down; suspects: %s", l.Down, l.Reported, strings.Join(named, "; "))
	case l.Down > 0:
		return metav1.ConditionFalse, ReasonLinksDown, fmt.Sprintf("%d/%d links down; no pod, node or zone is a suspect", l.Down, l.Reported)
	case l.Up == 0:
		return metav1.ConditionUnknown, ReasonUnmeasured, fmt.Sprintf("no link measured yet (%d expected)", l.Expected)
	}
	msg := fmt.Sprintf("%s links up", l.Summary)
	if l.Unmeasured > 0 || l.UnreportedPods > 0 {
		msg += fmt.Sprintf(" (%d unmeasured, %d pods unreported)", l.Unmeasured, l.UnreportedPods)
	}
	return metav1.ConditionTrue, ReasonAllLinksUp, msg
}

// Describe is one line about a suspect: "node peering-node-3 unreachable
// (8/8 links down)".
func Describe(s v1alpha1.Suspect) string {
	what := strings.ToLower(s.Kind) + " " + s.Name
	if s.Node != "" {
		what += " on node " + s.Node
	}
	reason := strings.NewReplacer("CannotReach", "cannot reach its peers", "Unreachable", "unreachable", ",", " and ").Replace(s.Reason)
	return fmt.Sprintf("%s %s (%s links down)", what, reason, s.ReportedBy)
}
