package controller_test

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
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
	g.Eventually(liveReplicaSets(g, pg)).Should(ConsistOf(newRS.Name))
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("RolledOut"))
}

// podsWanted is the replicas each of the group's live ReplicaSets asks for.
func podsWanted(g Gomega, pg *v1alpha1.PeerGroup) map[string]int32 {
	out := map[string]int32{}
	for _, rs := range replicaSets(g, pg) {
		if rs.DeletionTimestamp == nil {
			out[rs.Labels[render.LabelTemplateHash]] = *rs.Spec.Replicas
		}
	}
	return out
}

func setImage(g Gomega, pg *v1alpha1.PeerGroup, image string) *appsv1.ReplicaSet {
	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) { latest.Spec.Image = image })
	return currentReplicaSet(g, pg)
}

// A roll adds at most a quarter of the pods (at least one) at a time and
// removes old pods only as new ones become Ready, so the group never has
// fewer Ready pods than asked for nor more pods than replicas + surge.
func TestRollIsBoundedBySurge(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 4)
	oldRS := currentReplicaSet(g, pg)
	startPods(g, oldRS, 4)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())
	oldHash := oldRS.Labels[render.LabelTemplateHash]

	newRS := setImage(g, pg, "simulated-peering/server:v2")
	newHash := newRS.Labels[render.LabelTemplateHash]
	g.Eventually(func() map[string]int32 { return podsWanted(g, pg) }).Should(Equal(map[string]int32{oldHash: 4, newHash: 1}))
	g.Consistently(func() map[string]int32 { return podsWanted(g, pg) }).WithTimeout(time.Second).
		Should(Equal(map[string]int32{oldHash: 4, newHash: 1}), "no more than 1 pod beyond 4 before a new pod is Ready")

	startPods(g, newRS, 1)
	g.Eventually(func() map[string]int32 { return podsWanted(g, pg) }).Should(Equal(map[string]int32{oldHash: 3, newHash: 2}))
	startPods(g, currentReplicaSet(g, pg), 3)
	g.Eventually(func() map[string]int32 { return podsWanted(g, pg) }).Should(Equal(map[string]int32{newHash: 4}))
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("RolledOut"))
}

// A roll interrupted by another (A→B, then B→C before B is Ready) scales
// the unready intermediate B to zero at once: A keeps serving, C starts,
// and the group never runs three sets of pods.
func TestInterruptedRollDropsTheIntermediate(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	a := currentReplicaSet(g, pg)
	startPods(g, a, 2)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())

	b := setImage(g, pg, "simulated-peering/server:b")
	g.Eventually(func() int32 { return podsWanted(g, pg)[b.Labels[render.LabelTemplateHash]] }).Should(Equal(int32(1)))
	c := setImage(g, pg, "simulated-peering/server:c")
	g.Eventually(func() map[string]int32 { return podsWanted(g, pg) }).Should(Equal(map[string]int32{
		a.Labels[render.LabelTemplateHash]: 2, b.Labels[render.LabelTemplateHash]: 0, c.Labels[render.LabelTemplateHash]: 1}))

	startPods(g, c, 2)
	g.Eventually(liveReplicaSets(g, pg)).Should(ConsistOf(c.Name))
}

// Pods that never become Ready (a bad image, a full cluster) stall the group
// with ProgressDeadlineExceeded once spec.progressDeadline has passed; it
// recovers by itself when they come up.
func TestProgressDeadline(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 1, func(pg *v1alpha1.PeerGroup) {
		pg.Spec.ProgressDeadline = &metav1.Duration{Duration: 2 * time.Second}
	})
	g.Expect(conditions.IsStalled(getGroup(g, pg))).To(BeFalse())
	g.Eventually(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(conditions.GetReason(got, meta.StalledCondition)).To(Equal("ProgressDeadlineExceeded"))
		g.Expect(conditions.GetMessage(got, meta.ReadyCondition)).To(ContainSubstring("0/1 pods ready after 2s"))
		g.Expect(conditions.Has(got, meta.ReconcilingCondition)).To(BeFalse(), "kstatus: Stalled, not InProgress")
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Eventually(func() []corev1.Event { return events(g, pg) }).Should(ContainElement(And(
		HaveField("Reason", "ProgressDeadlineExceeded"), HaveField("Type", corev1.EventTypeWarning))))

	startPods(g, currentReplicaSet(g, pg), 1)
	g.Eventually(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(conditions.IsReady(got)).To(BeTrue())
		g.Expect(conditions.Has(got, meta.StalledCondition)).To(BeFalse())
		g.Expect(got.Status.ProgressingSince).To(BeNil())
	}).Should(Succeed())
}

// A port change rolls the pods, and while it does each pod is reached on the
// port it listens on: the peers API gives every pod's own port, and the
// NetworkPolicy names the port rather than numbering it, so neither the old
// nor the new pods are cut off.
func TestPortChangeKeepsEveryPodReachable(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 2)
	old := startPods(g, currentReplicaSet(g, pg), 2)
	g.Eventually(func() bool { return conditions.IsReady(getGroup(g, pg)) }).Should(BeTrue())

	updateGroup(g, pg, func(latest *v1alpha1.PeerGroup) { latest.Spec.Port = 9090 })
	newRS := currentReplicaSet(g, pg)
	g.Expect(newRS.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort).To(Equal(int32(9090)))
	fresh := startPods(g, newRS, 1)

	g.Eventually(func(g Gomega) {
		_, doc := fetchPeers(g, pg, old[0].Name)
		addresses := map[string]string{}
		for _, p := range doc.Peers {
			addresses[p.Name] = p.Address
		}
		g.Expect(addresses).To(HaveKeyWithValue(old[1].Name, old[1].Status.PodIP+":8080"))
		g.Expect(addresses).To(HaveKeyWithValue(fresh[0].Name, fresh[0].Status.PodIP+":9090"))
	}).Should(Succeed())
	np := &networkingv1.NetworkPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pg), np)).To(Succeed())
	for _, rule := range np.Spec.Ingress {
		g.Expect(rule.Ports).To(HaveEach(HaveField("Port.StrVal", "ping")))
	}
	g.Expect(np.Spec.Egress[0].Ports).To(HaveEach(HaveField("Port.StrVal", "ping")), "to the group's own pods")
}

// Rolling away from a template whose pods never became Ready (a bad image,
// fixed) replaces them at once instead of by a quarter at a time: old pods
// that are not Ready keep nothing available.
func TestRollAwayFromUnreadyPodsIsImmediate(t *testing.T) {
	g := NewWithT(t)
	pg := newGroup(g, namespace(t), "mesh", 4, func(pg *v1alpha1.PeerGroup) { pg.Spec.Image = "simulated-peering/server:typo" })
	bad := currentReplicaSet(g, pg)
	fixed := setImage(g, pg, "simulated-peering/server:dev")
	g.Eventually(func() map[string]int32 { return podsWanted(g, pg) }).Should(Equal(map[string]int32{
		bad.Labels[render.LabelTemplateHash]: 0, fixed.Labels[render.LabelTemplateHash]: 4}))
}
