//go:build e2e && scale

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// make e2e-scale (not in CI: ~20 minutes on 2 cores): on NODES=5, one group
// of BIG (300) real pods with maxPeersPerPod 10 at 10 s and SMALL (50)
// groups of 4. It prints the time to all Ready and to LinksHealthy=True,
// the operator's memory and CPU and the API writes per minute while
// steady, how soon a node whose data plane breaks is named, and what the
// machine's memory went to. The figures go to docs/scale.md.
func TestAtScale(t *testing.T) {
	g := NewWithT(t)
	if expectedNodes(t) < 5 {
		t.Skip("needs NODES=5")
	}
	big, small := envInt(t, "BIG", 300), envInt(t, "SMALL", 50)
	// Five local nodes share this machine's 2 cores, and each reports them
	// as its own: the default 100m a server would fit 100 pods, not 500. A
	// server pinging 10 peers every 10 s uses about 1m.
	const resources = `resources: {requests: {cpu: 10m, memory: 32Mi}}`
	available0 := memAvailableMiB(t)
	start := time.Now()

	bigNS := cluster.Namespace(t, "scale-big")
	out, err := cluster.KubectlApply(fmt.Sprintf(`apiVersion: peering.simulated-peering.io/v1alpha1
kind: PeerGroup
metadata: {name: mesh, namespace: %s}
spec: {replicas: %d, maxPeersPerPod: 10, pingInterval: 10s, pingTimeout: 2s, progressDeadline: 30m, %s}
`, bigNS, big, resources))
	g.Expect(err).NotTo(HaveOccurred(), out)
	namespaces := []string{bigNS}
	for range small {
		ns := cluster.Namespace(t, "scale-small")
		out, err := cluster.KubectlApply(fmt.Sprintf(`apiVersion: peering.simulated-peering.io/v1alpha1
kind: PeerGroup
metadata: {name: mesh, namespace: %s}
spec: {replicas: 4, pingInterval: 10s, pingTimeout: 2s, %s}
`, ns, resources))
		g.Expect(err).NotTo(HaveOccurred(), out)
		namespaces = append(namespaces, ns)
	}
	groups := func(g Gomega) []v1alpha1.PeerGroup {
		var out []v1alpha1.PeerGroup
		for _, ns := range namespaces {
			out = append(out, *cluster.GetGroup(g, ns))
		}
		return out
	}
	count := func(ok func(v1alpha1.PeerGroup) bool) func(g Gomega) int {
		return func(g Gomega) int {
			n := 0
			for _, pg := range groups(g) {
				if ok(pg) {
					n++
				}
			}
			return n
		}
	}
	ready := count(func(pg v1alpha1.PeerGroup) bool { return pg.Status.ReadyReplicas == pg.DesiredReplicas() })
	g.Eventually(ready).WithTimeout(40*time.Minute).WithPolling(10*time.Second).Should(Equal(len(namespaces)), "every group Ready")
	allReady := time.Since(start)
	t.Logf("%d pods in %d groups all Ready after %s", big+4*small, len(namespaces), allReady.Round(time.Second))
	healthy := count(func(pg v1alpha1.PeerGroup) bool { return linksHealthy(&pg).Status == "True" })
	g.Eventually(healthy).WithTimeout(10*time.Minute).WithPolling(5*time.Second).Should(Equal(len(namespaces)), "every group LinksHealthy")
	t.Logf("every group LinksHealthy=True after %s (%s after all Ready)", time.Since(start).Round(time.Second), (time.Since(start) - allReady).Round(time.Second))

	// Steady: a minute of the API writes the operator makes, and its
	// leader's CPU and memory.
	leader := operatorPod(g, cluster.Leader(g))
	writes0, cpu0, at0 := statusWrites(g), cpuSeconds(t, leader), time.Now()
	time.Sleep(time.Minute)
	writes1, cpu1, minute := statusWrites(g), cpuSeconds(t, leader), time.Since(at0).Minutes()
	t.Logf("steady: %.0f PeerGroup status writes a minute over %d groups; the leading operator used %.0f%% of a core, RSS %d MiB",
		(writes1-writes0)/minute, len(namespaces), 100*(cpu1-cpu0)/(minute*60), rssMiB(t, leader))
	for _, p := range operatorPods(g) {
		t.Logf("  operator replica %s on %s: RSS %d MiB", p.Name, p.Spec.NodeName, rssMiB(t, p))
	}

	// A node's data plane breaks: the big group names it.
	pods := cluster.Pods(g, bigNS)
	broken := nodeToBreak(g, pods)
	repair := breakDataPlane(t, g, broken)
	broke := time.Now()
	g.Eventually(func(g Gomega) {
		pg := cluster.GetGroup(g, bigNS)
		g.Expect(pg.Status.Suspects).NotTo(BeEmpty())
		g.Expect(pg.Status.Suspects[0].Kind).To(Equal("Node"))
		g.Expect(pg.Status.Suspects[0].Name).To(Equal(broken))
	}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), "the big group names %s", broken)
	t.Logf("the broken node %s was named by the %d-pod group %s after the fault", broken, big, time.Since(broke).Round(time.Second))
	repair()
	t.Logf("the machine's available memory: %d MiB before, %d MiB with the groups running (%d MiB used)",
		available0, memAvailableMiB(t), available0-memAvailableMiB(t))
}

func envInt(t *testing.T, name string, def int) int {
	if os.Getenv(name) == "" {
		return def
	}
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, os.Getenv(name))
	}
	return n
}

func operatorPods(g Gomega) []corev1.Pod {
	var list corev1.PodList
	g.Expect(cluster.K8s.List(context.Background(), &list, client.InNamespace("peering-system"),
		client.MatchingLabels{"app.kubernetes.io/name": "peering-operator"})).To(Succeed())
	return list.Items
}

func operatorPod(g Gomega, name string) corev1.Pod {
	for _, p := range operatorPods(g) {
		if p.Name == name {
			return p
		}
	}
	g.Expect(name).To(BeEmpty(), "no operator pod %s", name)
	return corev1.Pod{}
}

// statusWrites is the API server's count of PeerGroup status writes.
func statusWrites(g Gomega) float64 {
	out, err := cluster.Kubectl("get", "--raw", "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	total := 0.0
	line := regexp.MustCompile(`^apiserver_request_total\{.*\} (\S+)$`)
	for _, l := range strings.Split(out, "\n") {
		if m := line.FindStringSubmatch(l); m != nil && strings.Contains(l, `resource="peergroups"`) &&
			strings.Contains(l, `subresource="status"`) && regexp.MustCompile(`verb="(PATCH|PUT|APPLY)"`).MatchString(l) {
			v, _ := strconv.ParseFloat(m[1], 64)
			total += v
		}
	}
	return total
}

// cpuSeconds is the user and system time of a pod's process.
func cpuSeconds(t *testing.T, p corev1.Pod) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cluster.PodPID(p)))
	if err != nil {
		t.Fatalf("reading %s's process: %v", p.Name, err)
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // clock ticks
}

func rssMiB(t *testing.T, p corev1.Pod) int {
	return procStatus(t, fmt.Sprintf("/proc/%d/status", cluster.PodPID(p)), "VmRSS:") / 1024
}

func memAvailableMiB(t *testing.T) int { return procStatus(t, "/proc/meminfo", "MemAvailable:") / 1024 }

// procStatus reads a "Name: value kB" line.
func procStatus(t *testing.T, file, name string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == name {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in %s", name, file)
	return 0
}
