package controller_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// A template change (image) creates a new ReplicaSet; the old one keeps its
// pods until the new pods are all Ready, then goes. Interval and fan-out
// changes never touch the ReplicaSet.
func TestTemplateChangeRollsAndSettingsDoNot(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	oldRS := currentReplicaSet(g, pg)
	startPods(g, oldRS, 2)
	g.Eventually(func() int32 { return getGroup(g, pg).Status.ReadyReplicas }).Should(Equal(int32(2)))

	latest := updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) {
		latest.Spec.PingInterval = &metav1.Duration{Duration: 30 * time.Second}
		latest.Spec.MaxPeersPerPod = 1
	})
	g.Eventually(func() int64 { return getGroup(g, pg).Status.ObservedGeneration }).Should(Equal(latest.Generation))
	g.Expect(replicaSets(g, pg)).To(HaveLen(1))
	g.Expect(currentReplicaSet(g, pg).ResourceVersion).To(Equal(oldRS.ResourceVersion), "settings changes must not write the ReplicaSet")

	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) {
		latest.Spec.Image = "simulated-peering/server:v2"
	})
	newRS := currentReplicaSet(g, pg)
	g.Expect(newRS.Name).NotTo(Equal(oldRS.Name))
	g.Expect(newRS.Spec.Template.Spec.Containers[0].Image).To(Equal("simulated-peering/server:v2"))
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("Rolling"))
	g.Consistently(func() int { return len(replicaSets(g, pg)) }).WithTimeout(time.Second).Should(Equal(2), "old pods stay until new ones are ready")
	g.Expect(readyCondition(g, pg).Status).To(BeEquivalentTo("False"))

	startPods(g, newRS, 2)
	g.Eventually(func() []string {
		var names []string
		for _, rs := range replicaSets(g, pg) {
			if rs.DeletionTimestamp == nil {
				names = append(names, rs.Name)
			}
		}
		return names
	}).Should(ConsistOf(newRS.Name))
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("RolledOut"))
}
