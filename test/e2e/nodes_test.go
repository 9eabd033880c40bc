//go:build e2e

package e2e

import (
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// expectedNodes is NODES, as make started the cluster with (default 3).
func expectedNodes(t *testing.T) int {
	if os.Getenv("NODES") == "" {
		return 3
	}
	n, err := strconv.Atoi(os.Getenv("NODES"))
	if err != nil || n < 1 {
		t.Fatalf("NODES=%q: want the cluster's node count", os.Getenv("NODES"))
	}
	return n
}

func nodes(g Gomega) []corev1.Node {
	var list corev1.NodeList
	g.Expect(cluster.K8s.List(context.Background(), &list)).To(Succeed())
	return list.Items
}

// Every node is Ready, has its own pod range and a zone.
func TestNodesAreReadyWithRangesAndZones(t *testing.T) {
	g := NewWithT(t)
	want := expectedNodes(t)
	list := nodes(g)
	g.Expect(list).To(HaveLen(want))
	ranges, zones := map[string]bool{}, map[string]bool{}
	for _, n := range list {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		g.Expect(ready).To(BeTrue(), "node %s is not Ready", n.Name)
		g.Expect(n.Spec.PodCIDR).To(MatchRegexp(`^10\.244\.\d+\.0/24$`), "node %s", n.Name)
		ranges[n.Spec.PodCIDR] = true
		zone := n.Labels[corev1.LabelTopologyZone]
		g.Expect(zone).NotTo(BeEmpty(), "node %s has no zone", n.Name)
		zones[zone] = true
	}
	g.Expect(ranges).To(HaveLen(want), "one pod range per node")
	if want >= 3 {
		g.Expect(zones).To(HaveLen((want + 1) / 2))
	}
	out, _ := cluster.Kubectl("get", "nodes", "-L", corev1.LabelTopologyZone, "-o", "wide")
	t.Logf("\n%s", out)
}

// A 6-pod group spreads over the nodes and zones; every pod pongs every
// other, across nodes too; every node's pods resolved the operator's Service
// name and got their peers from the peers API (they are Ready only after
// that). The spread is soft (ScheduleAnyway) and weighs zones and nodes
// together: with two zones over three nodes (2 + 1), an even 3/3 over zones
// puts 3 pods on the lone zone's node, so the check is "every node and zone
// used, none crowded", not 2/2/2.
func TestMeshSpreadsOverNodes(t *testing.T) {
	g := NewWithT(t)
	want := expectedNodes(t)
	ns := cluster.Namespace(t, "e2e-spread")
	cluster.CreateReadyGroup(t, g, ns, 6, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 6, 30*time.Second)
	zoneOf := map[string]string{}
	for _, n := range nodes(g) {
		zoneOf[n.Name] = n.Labels[corev1.LabelTopologyZone]
	}
	perNode, perZone := map[string]int{}, map[string]int{}
	nodeOf := map[string]string{}
	for name, p := range pods {
		perNode[p.Spec.NodeName]++
		perZone[zoneOf[p.Spec.NodeName]]++
		nodeOf[name] = p.Spec.NodeName
	}
	t.Logf("placement: by node %v, by zone %v", perNode, perZone)
	g.Expect(perNode).To(HaveLen(min(want, 6)), "pods on every node")
	g.Expect(perZone).To(HaveLen(len(slices.Compact(slices.Sorted(maps.Values(zoneOf))))), "pods in every zone")
	for node, n := range perNode {
		g.Expect(n).To(BeNumerically("<=", 3), "node %s has %d of 6 pods: not spread (%v)", node, n, perNode)
	}
	crossNode := 0
	for name := range pods {
		lines := cluster.Logs(g, ns, name)
		g.Expect(lines).To(ContainElement(HaveField("Msg", HavePrefix("peers document "))), "%s never got its peers", name)
		for other := range pods {
			if other != name && nodeOf[other] != nodeOf[name] {
				g.Expect(cluster.PongsFrom(lines, other)).NotTo(BeEmpty(), "%s (%s) has no pong from %s (%s)", name, nodeOf[name], other, nodeOf[other])
				crossNode++
			}
		}
	}
	t.Logf("%d pinger→peer pairs across nodes ponged", crossNode)
}

// A node whose data plane breaks while its kubelet keeps talking to the API
// server (the node stays Ready): pings across that node fail, pings inside
// it keep working, and everything recovers after the repair.
func TestANodeWithABrokenDataPlane(t *testing.T) {
	g := NewWithT(t)
	if expectedNodes(t) < 3 {
		t.Skip("needs 3 nodes")
	}
	ns := cluster.Namespace(t, "e2e-fault")
	cluster.CreateReadyGroup(t, g, ns, 6, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 6, 30*time.Second)
	broken := nodeToBreak(g, pods)
	var inside, outside []corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == broken {
			inside = append(inside, p)
		} else {
			outside = append(outside, p)
		}
	}
	g.Expect(inside).NotTo(BeEmpty(), "no pod on %s", broken)
	g.Expect(outside).NotTo(BeEmpty())

	repair := breakDataPlane(t, g, broken)
	broke := time.Now()

	// The PeerGroup names the node, not its pods one by one (a node with a
	// single pod of the group is that pod: nothing tells them apart).
	var suspected time.Time
	g.Eventually(func(g Gomega) {
		pg := cluster.GetGroup(g, ns)
		g.Expect(pg.Status.Suspects).To(HaveLen(1))
		if len(inside) >= 2 {
			g.Expect(pg.Status.Suspects[0].Kind).To(Equal("Node"))
			g.Expect(pg.Status.Suspects[0].Name).To(Equal(broken))
		} else {
			g.Expect(pg.Status.Suspects[0].Name).To(Equal(inside[0].Name))
		}
		suspected = time.Now()
	}).WithTimeout(20*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "the suspect is the node %s", broken)
	t.Logf("the node %s was the PeerGroup's suspect %s after the fault", broken, suspected.Sub(broke).Round(100*time.Millisecond))
	out, _ := cluster.Kubectl("-n", ns, "get", "pg", "mesh")
	t.Logf("\n%s", out)

	// Across the node: failures, logged by name, counted in the metrics.
	watcher, victim := outside[0], inside[0]
	var detected time.Time
	g.Eventually(func() bool {
		for _, l := range cluster.Logs(g, ns, watcher.Name) {
			if l.At.After(broke) && strings.HasPrefix(l.Msg, "ping to "+victim.Name+" ") && strings.Contains(l.Msg, "failed") {
				detected = l.At
				return true
			}
		}
		return false
	}).WithTimeout(15*time.Second).Should(BeTrue(), "%s never failed to ping %s on the broken node", watcher.Name, victim.Name)
	t.Logf("first failed ping across %s logged %s after the fault", broken, detected.Sub(broke).Round(time.Millisecond))
	g.Expect(metrics(t, g, watcher)).To(MatchRegexp(`peering_pings_total\{outcome="(timeout|unreachable|refused)",peer="` + victim.Name + `"\} [1-9]`))

	// Inside the node, and between the other nodes: still pongs.
	time.Sleep(5 * time.Second)
	since := time.Now()
	time.Sleep(5 * time.Second)
	pongSince := func(pinger, peer string) bool { return pongedAfter(g, ns, pinger, peer, since) }
	if len(inside) > 1 {
		g.Expect(pongSince(inside[0].Name, inside[1].Name)).To(BeTrue(), "pods inside %s stopped ponging each other", broken)
	}
	if len(outside) > 1 {
		g.Expect(pongSince(outside[0].Name, outside[1].Name)).To(BeTrue(), "pods off %s stopped ponging each other", broken)
	}
	g.Expect(pongSince(watcher.Name, victim.Name)).To(BeFalse(), "a pong crossed the broken node")
	out, err := cluster.Kubectl("get", "node", broken, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal("True"), "the node's control plane is fine: it stays Ready")

	repair()
	repaired := time.Now()
	g.Eventually(func() bool { return pongedAfter(g, ns, watcher.Name, victim.Name, repaired) }).WithTimeout(15*time.Second).Should(BeTrue(), "pongs across %s did not come back after the repair", broken)
	t.Logf("pongs across %s back %s after the repair", broken, time.Since(repaired).Round(time.Millisecond))
	g.Eventually(func(g Gomega) {
		pg := cluster.GetGroup(g, ns)
		g.Expect(pg.Status.Suspects).To(BeEmpty())
		g.Expect(pg.Status.Links).NotTo(BeNil())
		g.Expect(pg.Status.Links.Down).To(BeZero())
	}).WithTimeout(20*time.Second).Should(Succeed(), "the suspect did not clear after the repair")
	t.Logf("the suspect cleared %s after the repair", time.Since(repaired).Round(time.Second))
}

// nodeToBreak is the worker node the leading operator replica does not run
// on (breaking the collector's own node would hide every report) with the
// most of the group's pods.
func nodeToBreak(g Gomega, pods map[string]corev1.Pod) string {
	leader := cluster.Leader(g)
	g.Expect(leader).NotTo(BeEmpty(), "no operator replica holds the lease")
	out, err := cluster.Kubectl("-n", "peering-system", "get", "pod", leader, "-o", "jsonpath={.spec.nodeName}")
	g.Expect(err).NotTo(HaveOccurred())
	best, most := "", -1
	for _, candidate := range []string{"peering-node-3", "peering-node-2"} {
		n := 0
		for _, p := range pods {
			if p.Spec.NodeName == candidate {
				n++
			}
		}
		if !strings.Contains(out, candidate) && n > most {
			best, most = candidate, n
		}
	}
	g.Expect(best).NotTo(BeEmpty(), "the leading operator runs on every worker")
	return best
}

// pongedAfter: pinger logged a pong from peer after t.
func pongedAfter(g Gomega, ns, pinger, peer string, t time.Time) bool {
	return slices.ContainsFunc(cluster.PongsFrom(cluster.Logs(g, ns, pinger), peer), func(at time.Time) bool { return at.After(t) })
}

func nodeRange(g Gomega, node string) string {
	for _, n := range nodes(g) {
		if n.Name == node {
			return n.Spec.PodCIDR
		}
	}
	g.Expect(node).To(BeEmpty(), "no node %s", node)
	return ""
}

// breakDataPlane drops every packet crossing node's pod range in its
// network namespace (the node stays Ready) and returns the repair, which
// also runs when the test ends. In the raw table, before anything else sees
// the packet: kube-router keeps its own jump first in the filter table's
// FORWARD chain and accepts what the NetworkPolicies allow there.
func breakDataPlane(t *testing.T, g Gomega, node string) (repair func()) {
	cidr := nodeRange(g, node)
	rules := [][]string{
		{"PREROUTING", "-s", cidr, "!", "-d", cidr, "-m", "comment", "--comment", "e2e-fault", "-j", "DROP"},
		{"PREROUTING", "-d", cidr, "!", "-s", cidr, "-m", "comment", "--comment", "e2e-fault", "-j", "DROP"},
	}
	var once sync.Once
	repair = func() {
		once.Do(func() {
			for _, r := range rules {
				inNode(node, append([]string{"iptables", "-t", "raw", "-D"}, r...)...)
			}
		})
	}
	t.Cleanup(repair)
	for _, r := range rules {
		g.Expect(inNode(node, append([]string{"iptables", "-t", "raw", "-I"}, r...)...)).To(Succeed())
	}
	return repair
}

// inNode runs a command in a node's network namespace.
func inNode(node string, args ...string) error { return inNetns("/run/netns/"+node, args...) }

// metrics reads a server pod's /metrics through kubectl port-forward, which
// reaches the pod from inside its own network namespace: its NetworkPolicy
// admits only its group, scrapers and the operator.
func metrics(t *testing.T, g Gomega, p corev1.Pod) string {
	resp, err := http.Get("http://" + cluster.PortForward(t, p.Namespace, "pod/"+p.Name, 8080) + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
