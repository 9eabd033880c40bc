//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// The operator as shipped runs two Ready replicas on two nodes. Deleting
// the leader during a scale, then a rollout restart during link-health
// rounds, pages no one: no server logs an ERROR line, the group converges,
// and link health resumes under the new leader. Before issue 20 (one
// replica), the same deletion left 3 ERROR lines on the servers.
func TestOperatorFailoverIsQuiet(t *testing.T) {
	g := NewWithT(t)
	operators := func(g Gomega) []corev1.Pod {
		var list corev1.PodList
		g.Expect(cluster.K8s.List(context.Background(), &list, client.InNamespace("peering-system"),
			client.MatchingLabels{"app.kubernetes.io/name": "peering-operator"})).To(Succeed())
		var ready []corev1.Pod
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && isReady(p) {
				ready = append(ready, p)
			}
		}
		return ready
	}
	g.Eventually(func(g Gomega) {
		pods := operators(g)
		g.Expect(pods).To(HaveLen(2))
		g.Expect(pods[0].Spec.NodeName).NotTo(Equal(pods[1].Spec.NodeName), "both replicas on one node")
	}).WithTimeout(2 * time.Minute).Should(Succeed())

	ns := cluster.Namespace(t, "e2e-ha")
	cluster.CreateReadyGroup(t, g, ns, 3, "2s")
	healthyAt := func(n int) func(g Gomega) {
		return func(g Gomega) {
			pg := cluster.GetGroup(g, ns)
			g.Expect(pg.Status.ReadyReplicas).To(BeNumerically("==", n))
			g.Expect(linksHealthy(pg).Reason).To(Equal("AllLinksUp"))
			g.Expect(pg.Status.Links.Summary).To(Equal(fmt.Sprintf("%d/%d", n*(n-1), n*(n-1))))
		}
	}
	g.Eventually(healthyAt(3)).WithTimeout(time.Minute).Should(Succeed())

	leader := cluster.Leader(g)
	g.Expect(leader).NotTo(BeEmpty())
	// The leader's log to its end: a normal shutdown logs nothing at ERROR
	// (before, every round in flight logged "collecting links: context
	// canceled" with a stack trace).
	leaderLog := &syncBuffer{}
	follow := exec.Command(filepath.Join(cluster.Root, "bin", "kubectl"), "--kubeconfig", cluster.Kubeconfig,
		"-n", "peering-system", "logs", "-f", "pod/"+leader)
	follow.Stdout = leaderLog
	g.Expect(follow.Start()).To(Succeed())
	_, err := cluster.Kubectl("-n", ns, "scale", "peergroup/mesh", "--replicas=5")
	g.Expect(err).NotTo(HaveOccurred())
	time.Sleep(time.Second) // kubectl logs -f has caught up with the log so far
	beforeStop := leaderLog.Len()
	killed := time.Now()
	_, err = cluster.Kubectl("-n", "peering-system", "delete", "pod", leader, "--wait=false")
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		g.Expect(cluster.Leader(g)).NotTo(Or(BeEmpty(), Equal(leader)))
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	failover := time.Since(killed)
	stopped := make(chan error, 1)
	go func() { stopped <- follow.Wait() }()
	select {
	case <-stopped: // the pod's log ended with it
	case <-time.After(time.Minute):
		follow.Process.Kill()
		<-stopped
	}
	g.Expect(leaderLog.String()).To(ContainSubstring("peers"), "the leader's log was read")
	for _, line := range strings.Split(leaderLog.String()[beforeStop:], "\n") { // what it logged while stopping
		g.Expect(line).NotTo(MatchRegexp(`(?i)"level":"error"|\tERROR\t`), "the stopping leader logged an error")
	}
	g.Eventually(healthyAt(5)).WithTimeout(2 * time.Minute).Should(Succeed())
	t.Logf("leader %s deleted during a scale to 5: new leader %s after %s, converged with all links up after %s",
		leader, cluster.Leader(g), failover.Round(100*time.Millisecond), time.Since(killed).Round(time.Second))

	restart := time.Now()
	_, err = cluster.Kubectl("-n", "peering-system", "rollout", "restart", "deployment/peering-operator")
	g.Expect(err).NotTo(HaveOccurred())
	out, err := cluster.Kubectl("-n", "peering-system", "rollout", "status", "deployment/peering-operator", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), out)
	_, err = cluster.Kubectl("-n", ns, "scale", "peergroup/mesh", "--replicas=4") // the new leader reconciles and measures
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(healthyAt(4)).WithTimeout(2 * time.Minute).Should(Succeed())
	t.Logf("rollout restart: rolled out and converged at 4 pods with all links up after %s", time.Since(restart).Round(time.Second))

	for name := range cluster.Pods(g, ns) {
		logs, err := cluster.Kubectl("-n", ns, "logs", name)
		g.Expect(err).NotTo(HaveOccurred())
		for _, line := range strings.Split(logs, "\n") {
			g.Expect(line).NotTo(ContainSubstring("level=ERROR"), "server %s paged someone", name)
		}
	}
}

func isReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
