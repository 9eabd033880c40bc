//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// Where it breaks, answered right, on the three nodes with faults injected
// by iptables only (issue 19). Each scenario prints its detection and
// recovery times.

// inPod runs iptables in a pod's network namespace.
func inPod(g Gomega, p corev1.Pod, args ...string) error {
	return inNetns(cluster.PodNetns(g, p), append([]string{"iptables"}, args...)...)
}

// suspects is the group's published suspects as "Kind/name Severity Reason".
func suspects(g Gomega, ns string) []string {
	var out []string
	for _, s := range cluster.GetGroup(g, ns).Status.Suspects {
		out = append(out, fmt.Sprintf("%s/%s %s %s", s.Kind, s.Name, s.Severity, s.Reason))
	}
	return out
}

// Two pods of a 4-pod mesh cannot send (their OUTPUT to the server port is
// dropped; they still answer pings and the operator's fetches): both are
// named, as senders, and no healthy pod is. The rule before issue 19 named
// the two healthy pods.
func TestTwoBrokenSendersAreNamed(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-senders")
	cluster.CreateReadyGroup(t, g, ns, 4, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 4, 30*time.Second)
	names := cluster.Names(pods)
	senders := []corev1.Pod{pods[names[0]], pods[names[1]]}
	rule := []string{"OUTPUT", "-p", "tcp", "--dport", "8080", "-m", "comment", "--comment", "e2e-senders", "-j", "DROP"}
	var detected, recovered []time.Duration
	for range 3 {
		for _, p := range senders {
			g.Expect(inPod(g, p, append([]string{"-I"}, rule...)...)).To(Succeed())
		}
		broke := time.Now()
		want := []string{
			"Pod/" + senders[0].Name + " Down CannotReach",
			"Pod/" + senders[1].Name + " Down CannotReach",
		}
		g.Eventually(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(30*time.Second).WithPolling(200*time.Millisecond).
			Should(ConsistOf(want), "both senders, and only they")
		detected = append(detected, time.Since(broke))
		// Named, and nothing healthy accused while it lasts.
		g.Consistently(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(6 * time.Second).Should(ConsistOf(want))
		for _, p := range senders {
			g.Expect(inPod(g, p, append([]string{"-D"}, rule...)...)).To(Succeed())
		}
		repaired := time.Now()
		g.Eventually(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(30 * time.Second).Should(BeEmpty())
		recovered = append(recovered, time.Since(repaired))
	}
	out, _ := cluster.Kubectl("-n", ns, "get", "pg", "mesh")
	t.Logf("two broken senders named %s after the fault, cleared %s after the repair (median of 3, 2s interval)\n%s",
		cluster.Median(detected).Round(100*time.Millisecond), cluster.Median(recovered).Round(100*time.Millisecond), out)
}

// One path broken (A's pings to B dropped in A's namespace, nothing else):
// a Link suspect, neither pod accused, and the condition names the link.
func TestOneBrokenPathIsALink(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-path")
	cluster.CreateReadyGroup(t, g, ns, 4, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 4, 30*time.Second)
	names := cluster.Names(pods)
	a, b := pods[names[0]], pods[names[1]]
	rule := []string{"OUTPUT", "-p", "tcp", "-d", b.Status.PodIP, "--dport", "8080", "-m", "comment", "--comment", "e2e-path", "-j", "DROP"}
	t.Cleanup(func() { inPod(NewWithT(t), a, append([]string{"-D"}, rule...)...) })
	g.Expect(inPod(g, a, append([]string{"-I"}, rule...)...)).To(Succeed())
	broke := time.Now()
	link := "Link/" + a.Name + "→" + b.Name + " Down CannotReach"
	g.Eventually(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).
		Should(ConsistOf(link))
	t.Logf("the broken path was named %s after the fault", time.Since(broke).Round(100*time.Millisecond))
	g.Consistently(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(6 * time.Second).Should(ConsistOf(link))
	pg := cluster.GetGroup(g, ns)
	g.Expect(linksHealthy(pg).Message).To(ContainSubstring("link " + a.Name + "→" + b.Name + " down (1/1 links)"))
	g.Expect(pg.Status.Links.Suspect).To(Equal("Link/" + a.Name + "→" + b.Name))
	out, _ := cluster.Kubectl("-n", ns, "get", "pg", "mesh")
	t.Logf("\n%s", out)
	g.Expect(inPod(g, a, append([]string{"-D"}, rule...)...)).To(Succeed())
	g.Eventually(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(30 * time.Second).Should(BeEmpty())
}

// A worker node loses a share of every packet it forwards between its pods
// and the rest (iptables' statistic match in its raw table; the node stays
// Ready): the PeerGroup names the node Degraded within the bound, keeps
// naming it, reports its links' loss, and clears after the repair.
func TestALossyNodeIsDegraded(t *testing.T) {
	if expectedNodes(t) < 3 {
		t.Skip("needs 3 nodes")
	}
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-loss")
	cluster.CreateReadyGroup(t, g, ns, 9, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 9, 40*time.Second)
	broken := nodeToBreak(g, pods)
	inside := 0
	for _, p := range pods {
		if p.Spec.NodeName == broken {
			inside++
		}
	}
	g.Expect(inside).To(BeNumerically(">=", 2), "the node to make lossy holds fewer than 2 of the group's pods")
	cidr := nodeRange(g, broken)
	lossy := func(probability string) [][]string {
		tag := []string{"-m", "statistic", "--mode", "random", "--probability", probability, "-m", "comment", "--comment", "e2e-loss", "-j", "DROP"}
		return [][]string{
			append([]string{"PREROUTING", "-s", cidr, "!", "-d", cidr}, tag...),
			append([]string{"PREROUTING", "-d", cidr, "!", "-s", cidr}, tag...),
		}
	}
	inject := func(rules [][]string, op string) {
		for _, r := range rules {
			inNode(broken, append([]string{"iptables", "-t", "raw", op}, r...)...)
		}
	}
	for _, tc := range []struct {
		probability string
		within      time.Duration
		faults      int
	}{{"0.2", 60 * time.Second, 3}, {"0.05", 3 * time.Minute, 3}} {
		rules := lossy(tc.probability)
		t.Cleanup(func() { inject(rules, "-D") })
		var detected, recovered []time.Duration
		for range tc.faults {
			inject(rules, "-I")
			broke := time.Now()
			named := func(g Gomega) {
				pg := cluster.GetGroup(g, ns)
				g.Expect(pg.Status.Suspects).NotTo(BeEmpty())
				s := pg.Status.Suspects[0]
				g.Expect(fmt.Sprintf("%s/%s %s", s.Kind, s.Name, s.Severity)).To(Equal("Node/" + broken + " Degraded"))
			}
			g.Eventually(named).WithTimeout(tc.within).WithPolling(time.Second).Should(Succeed(), "node %s Degraded at %s loss", broken, tc.probability)
			detected = append(detected, time.Since(broke))
			// Afterwards it stays named: sampled every 2 s for 30 s.
			samples, hits := 0, 0
			var lossText string
			for range 15 {
				time.Sleep(2 * time.Second)
				pg := cluster.GetGroup(g, ns)
				samples++
				for _, s := range pg.Status.Suspects {
					if s.Kind == "Node" && s.Name == broken && s.Severity == "Degraded" {
						hits++
						lossText = s.Loss
					}
				}
				g.Expect(pg.Status.Suspects).To(HaveEach(HaveField("Name", broken)), "only the lossy node is named")
			}
			loss, err := strconv.ParseFloat(strings.TrimSuffix(strings.Fields(lossText)[0], "%"), 64)
			g.Expect(err).NotTo(HaveOccurred(), "loss %q", lossText)
			t.Logf("%s dropped on %s: named in %d of %d samples, its links' loss %s", tc.probability, broken, hits, samples, lossText)
			g.Expect(float64(hits)).To(BeNumerically(">=", 0.9*float64(samples)))
			if tc.probability == "0.2" {
				g.Expect(loss).To(BeNumerically("~", 35, 25), "the loss estimate of its links is between 10%% and 60%%")
				out, _ := cluster.Kubectl("-n", ns, "get", "pg", "mesh")
				t.Logf("\n%s", out)
			}
			inject(rules, "-D")
			repaired := time.Now()
			g.Eventually(func(g Gomega) []v1alpha1.Suspect { return cluster.GetGroup(g, ns).Status.Suspects }).
				WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(BeEmpty())
			recovered = append(recovered, time.Since(repaired))
		}
		t.Logf("%s loss on node %s: named Degraded %s after the fault (bound %s), cleared %s after the repair (median of %d, 2s interval, %d of 9 pods on it)",
			tc.probability, broken, cluster.Median(detected).Round(time.Second), tc.within, cluster.Median(recovered).Round(time.Second), tc.faults, inside)
	}
}

// A healthy mesh is quiet: after its first minute, five minutes with no
// suspect and no status write (the resourceVersion does not move).
func TestAHealthyMeshWritesNothing(t *testing.T) {
	g := NewWithT(t)
	waited := cluster.WaitForTeardowns(g, 3*time.Minute)
	ns := cluster.Namespace(t, "e2e-quiet")
	cluster.CreateReadyGroup(t, g, ns, 6, "2s")
	cluster.WaitForFullMesh(g, ns, 6, 30*time.Second)
	time.Sleep(time.Minute)
	first := cluster.GetGroup(g, ns)
	g.Expect(linksHealthy(first).Reason).To(Equal("AllLinksUp"), linksHealthy(first).Message)
	writes, rv := 0, first.ResourceVersion
	shown := func(pg *v1alpha1.PeerGroup) string { // what a write could have changed
		return fmt.Sprintf("links %+v; LinksHealthy %s; ready %d", *pg.Status.Links, linksHealthy(pg).Message, pg.Status.ReadyReplicas)
	}
	before := shown(first)
	t.Logf("created after the earlier tests' namespaces were gone (waited %s); after its first minute: %s", waited.Round(time.Second), before)
	var suspected []string
	for range 60 { // 5 minutes
		time.Sleep(5 * time.Second)
		pg := cluster.GetGroup(g, ns)
		if pg.ResourceVersion != rv {
			writes++
			rv = pg.ResourceVersion
			t.Logf("status write: %s\n  was: %s", shown(pg), before)
			before = shown(pg)
		}
		for _, s := range pg.Status.Suspects {
			suspected = append(suspected, s.Kind+"/"+s.Name)
		}
	}
	last := cluster.GetGroup(g, ns)
	t.Logf("a healthy 6-pod mesh at 2s over 5 minutes after its first: %d status writes, %d suspects seen; links %s, p50 %s, p99 %s over %d pings",
		writes, len(suspected), last.Status.Links.Summary, last.Status.Links.P50, last.Status.Links.P99, last.Status.Links.Samples)
	t.Logf("its pings of 10 ms or more, by 10 s since its first ping: %s", slowPings(g, ns))
	g.Expect(suspected).To(BeEmpty())
	g.Expect(writes).To(BeZero())
}

// slowPings reads the group's servers' logs and counts the pongs of 10 ms
// or more in each 10 s since the first pong (with the slowest of each): the
// shape of what moves the group's p99, for a run that wrote.
func slowPings(g Gomega, ns string) string {
	type pong struct {
		at  time.Time
		rtt time.Duration
	}
	var pongs []pong
	for name := range cluster.Pods(g, ns) {
		for _, l := range cluster.Logs(g, ns, name) {
			_, after, found := strings.Cut(l.Msg, " rtt=")
			if rtt, err := time.ParseDuration(after); found && strings.HasPrefix(l.Msg, "pong from ") && err == nil {
				pongs = append(pongs, pong{l.At, rtt})
			}
		}
	}
	if len(pongs) == 0 {
		return "no pongs logged"
	}
	first := slices.MinFunc(pongs, func(a, b pong) int { return a.at.Compare(b.at) }).at
	type bucket struct {
		all, slow int
		slowest   time.Duration
	}
	buckets := map[int]*bucket{}
	last := 0
	for _, p := range pongs {
		i := int(p.at.Sub(first) / (10 * time.Second))
		if buckets[i] == nil {
			buckets[i] = &bucket{}
		}
		b := buckets[i]
		b.all++
		if p.rtt >= 10*time.Millisecond {
			b.slow++
			b.slowest = max(b.slowest, p.rtt)
		}
		last = max(last, i)
	}
	var out []string
	for i := 0; i <= last; i++ {
		if b := buckets[i]; b != nil && b.slow > 0 {
			out = append(out, fmt.Sprintf("%ds: %d of %d (slowest %s)", 10*i, b.slow, b.all, b.slowest))
		}
	}
	return fmt.Sprintf("%d pongs; %s", len(pongs), strings.Join(out, ", "))
}
