//go:build e2e

package e2e

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// 4: a new image tag replaces every pod, and at no moment of the roll is the
// whole mesh down or silent.
func TestImageChangeRollsWithoutOutage(t *testing.T) {
	rollWithoutOutage(t, `{"spec":{"image":"simulated-peering/server:dev2"}}`, func(g Gomega, p corev1.Pod) {
		g.Expect(p.Spec.Containers[0].Image).To(Equal("simulated-peering/server:dev2"))
	})
}

// A port change rolls the pods too; while old pods listen on 8080 and new
// ones on 9090, each is pinged on its own port, so pongs never stop, and the
// new pods form a full mesh on 9090.
func TestPortChangeRollsWithoutOutage(t *testing.T) {
	ns := rollWithoutOutage(t, `{"spec":{"port":9090}}`, func(g Gomega, p corev1.Pod) {
		g.Expect(p.Spec.Containers[0].Ports[0].ContainerPort).To(Equal(int32(9090)))
	})
	g := NewWithT(t)
	for name, p := range cluster.WaitForFullMesh(g, ns, 3, 10*time.Second) {
		g.Expect(strings.Join(lineMessages(cluster.Logs(g, ns, name)), "\n")).To(MatchRegexp(`pong from \S+ \(\S+:9090\)`), "%s pinged no one on 9090", p.Name)
	}
}

func lineMessages(lines []cluster.LogLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Msg)
	}
	return out
}

// rollWithoutOutage patches a 3-pod group (2s interval) so that its pods
// roll, and samples it every 500ms until every pod is new and passes
// check: there must always be a Ready pod and pongs logged in the last 3s
// (an interval and a half). It returns the namespace.
func rollWithoutOutage(t *testing.T, patch string, check func(Gomega, corev1.Pod)) string {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-roll")
	cluster.CreateReadyGroup(t, g, ns, 3, "2s")
	before := cluster.WaitForFullMesh(g, ns, 3, 10*time.Second)

	var samples, down, silent atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			var list corev1.PodList
			if cluster.K8s.List(context.Background(), &list, client.InNamespace(ns)) != nil {
				continue
			}
			ready := 0
			for _, p := range list.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			logs, err := cluster.Kubectl("-n", ns, "logs", "-l", "app.kubernetes.io/instance=mesh", "--since=3s", "--prefix", "--max-log-requests=10")
			if err != nil {
				continue // a pod that just went away; the next sample counts
			}
			samples.Add(1)
			if ready == 0 {
				down.Add(1)
			}
			if !strings.Contains(logs, "pong from") {
				silent.Add(1)
			}
		}
	}()
	_, err := cluster.Kubectl("-n", ns, "patch", "peergroup/mesh", "--type=merge", "-p", patch)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		now := cluster.Pods(g, ns)
		g.Expect(now).To(HaveLen(3))
		for name, p := range now {
			g.Expect(before).NotTo(HaveKey(name), "old pod %s still running", name)
			check(g, p)
		}
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=120s")
	g.Expect(err).NotTo(HaveOccurred())
	close(stop)
	<-sampled
	t.Logf("%d samples during the roll: %d with no Ready pod, %d with no pong in the last 3s", samples.Load(), down.Load(), silent.Load())
	g.Expect(samples.Load()).To(BeNumerically(">=", 1), "the roll was not observed")
	g.Expect(down.Load()).To(BeZero(), "the whole mesh was down during the roll")
	g.Expect(silent.Load()).To(BeZero(), "pings stopped succeeding during the roll")
	return ns
}
