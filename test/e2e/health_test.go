//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/test/browser"
	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// A pod its peers cannot reach (a DROP, inside its network namespace, of
// its server port from their addresses only, so the kubelet's probes and
// the operator's /links fetches still pass): the PeerGroup names it as the
// only suspect, an event says so, kubectl get shows the links, the web view
// turns its column down; all of it clears after the repair, and no pod
// restarts. Three faults; the median times are logged.
func TestAnUnreachablePodIsNamedAndShown(t *testing.T) {
	g := NewWithT(t)
	const n, interval = 4, 2 * time.Second
	ns := cluster.Namespace(t, "e2e-health")
	// A link is down about two timeouts after its first failing ping, which
	// comes within an interval; the next round, within another, sees it:
	// with the timeout at a quarter of the interval that is under 3 of them.
	out, err := cluster.KubectlApply(strings.Replace(cluster.Group(ns, n, interval.String()), "pingTimeout: 1s", "pingTimeout: 500ms", 1))
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), out)
	pods := cluster.WaitForFullMesh(g, ns, n, 30*time.Second)
	victim := pods[cluster.Names(pods)[0]]
	var peers []string
	for _, p := range pods {
		if p.Name != victim.Name {
			peers = append(peers, p.Status.PodIP)
		}
	}
	slices.Sort(peers)
	netns := cluster.PodNetns(g, victim)
	all := fmt.Sprintf("%d/%d", n*(n-1), n*(n-1))
	g.Eventually(func(g Gomega) {
		pg := cluster.GetGroup(g, ns)
		g.Expect(linksHealthy(pg).Reason).To(Equal("AllLinksUp"))
		g.Expect(pg.Status.Links.Summary).To(Equal(all))
	}).WithTimeout(10*interval).Should(Succeed(), "the mesh is healthy before the fault")

	page := browser.Open(t)
	leader := cluster.Leader(g)
	g.Expect(leader).NotTo(BeEmpty(), "no operator replica holds the lease")
	ui := cluster.PortForward(t, "peering-system", "pod/"+leader, 8084) // as make ui does
	operatorIP, err := cluster.Kubectl("-n", "peering-system", "get", "pod", leader, "-o", "jsonpath={.status.podIP}")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = net.DialTimeout("tcp", net.JoinHostPort(operatorIP, "8084"), 2*time.Second)
	g.Expect(err).To(HaveOccurred(), "the web view is on the operator pod's loopback only, not on the pod network")
	g.Expect(chromedp.Do(page, chromedp.Navigate("http://"+ui+"/#"+ns+"/mesh"))).To(Succeed())
	column := func() ([]string, error) {
		cells, err := browser.MatrixCells(page)
		if len(cells) != n*n {
			return nil, err // not drawn yet
		}
		return browser.Column(cells, victim.Name), err
	}
	// Up, in any latency colour (the first pings after a repair open new
	// connections and can be slower than the group's median).
	ups, downs := And(HaveLen(n-1), HaveEach(BeElementOf("up", "slow", "slower"))), Equal(slices.Repeat([]string{"down"}, n-1))
	g.Eventually(column).WithTimeout(10*interval).Should(ups, "the page shows %d×%d cells, all up", n, n)

	rule := []string{"INPUT", "-p", "tcp", "--dport", "8080", "-s", strings.Join(peers, ","),
		"-m", "comment", "--comment", "e2e-health", "-j", "DROP"}
	repair := func() { inNetns(netns, append([]string{"iptables", "-D"}, rule...)...) }
	t.Cleanup(repair)
	var detected, shown, recovered []time.Duration
	for fault := range 3 {
		g.Expect(inNetns(netns, append([]string{"iptables", "-I"}, rule...)...)).To(Succeed())
		broke := time.Now()
		g.Eventually(func(g Gomega) {
			pg := cluster.GetGroup(g, ns)
			g.Expect(linksHealthy(pg).Status).To(Equal(metav1.ConditionFalse))
			g.Expect(pg.Status.Suspects).To(ConsistOf(And(HaveField("Kind", "Pod"), HaveField("Name", victim.Name),
				HaveField("Reason", "Unreachable"), HaveField("ReportedBy", fmt.Sprintf("%d/%d", n-1, n-1)))))
			g.Expect(pg.Status.Links.Summary).To(Equal(fmt.Sprintf("%d/%d", (n-1)*(n-1), n*(n-1))))
		}).WithTimeout(10*interval).WithPolling(200*time.Millisecond).Should(Succeed(), "%s is the only suspect", victim.Name)
		detected = append(detected, time.Since(broke))
		g.Eventually(column).WithTimeout(10*interval).WithPolling(200*time.Millisecond).Should(downs, "the page turns %s's column down", victim.Name)
		shown = append(shown, time.Since(broke))
		if fault == 0 {
			shot, err := chromedp.Run(page, chromedp.Screenshot(chromedp.CSS("body"))) // the page, not the empty window below it
			g.Expect(err).NotTo(HaveOccurred())
			file := filepath.Join(cluster.Artifacts(t), "web-view-unreachable-pod.png")
			g.Expect(os.WriteFile(file, shot, 0o644)).To(Succeed())
			t.Logf("screenshot of the fault: %s", file)
			out, err := cluster.Kubectl("-n", ns, "get", "pg", "mesh")
			g.Expect(err).NotTo(HaveOccurred())
			t.Logf("\n%s", out)
			g.Expect(out).To(ContainSubstring(fmt.Sprintf("%d/%d", (n-1)*(n-1), n*(n-1))))
			g.Expect(out).To(ContainSubstring(victim.Name))
			g.Eventually(eventsAbout(ns, "LinkDown")).Should(ContainElement(ContainSubstring(victim.Name)))
		}

		repair()
		repaired := time.Now()
		g.Eventually(func(g Gomega) {
			pg := cluster.GetGroup(g, ns)
			g.Expect(linksHealthy(pg).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(pg.Status.Suspects).To(BeEmpty())
		}).WithTimeout(10*interval).WithPolling(200*time.Millisecond).Should(Succeed(), "LinksHealthy is True again after the repair")
		recovered = append(recovered, time.Since(repaired))
		g.Eventually(column).WithTimeout(10*interval).Should(ups, "the page turns the column back up")
		if fault == 0 {
			g.Eventually(eventsAbout(ns, "LinksRecovered")).Should(ContainElement(ContainSubstring(victim.Name)))
		}
	}
	t.Logf("interval %s, timeout 500ms; suspect named after %v (median %s), shown on the page after %v (median %s), cleared after %v (median %s)",
		interval, detected, cluster.Median(detected).Round(100*time.Millisecond), shown, cluster.Median(shown).Round(100*time.Millisecond),
		recovered, cluster.Median(recovered).Round(100*time.Millisecond))

	now := cluster.Pods(g, ns)
	g.Expect(cluster.Names(now)).To(Equal(cluster.Names(pods)), "the same pods")
	for _, p := range now {
		g.Expect(cluster.Restarts(p)).To(BeZero(), "%s restarted", p.Name)
	}
}

func linksHealthy(pg interface{ GetConditions() []metav1.Condition }) metav1.Condition {
	for _, c := range pg.GetConditions() {
		if c.Type == "LinksHealthy" {
			return c
		}
	}
	return metav1.Condition{}
}

// inNetns runs a command in a network namespace (a file nsenter --net takes).
func inNetns(netns string, args ...string) error {
	return cluster.Run(exec.Command("nsenter", append([]string{"--net=" + netns}, args...)...))
}

// eventsAbout lists the messages of the group's events with this reason.
func eventsAbout(ns, reason string) func() []string {
	return func() []string {
		var list corev1.EventList
		if err := cluster.K8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return nil
		}
		var out []string
		for _, e := range list.Items {
			if e.Reason == reason && e.InvolvedObject.Kind == "PeerGroup" {
				out = append(out, e.Message)
			}
		}
		return out
	}
}
