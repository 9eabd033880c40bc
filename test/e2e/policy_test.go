//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// probePod is a standalone server (the project's own image) that pings
// peers or follows a peers URL, so its log says what it could reach.
func probePod(ns, name, labels, env string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {%s}}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: server
      image: simulated-peering/server:dev
      imagePullPolicy: IfNotPresent
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      env: [{name: POD_NAME, value: %s}, {name: PING_INTERVAL, value: 1s}, %s]
`, name, ns, labels, name, env)
}

func podLog(g Gomega, ns, pod string) string {
	out, err := cluster.Kubectl("-n", ns, "logs", pod)
	g.Expect(err).NotTo(HaveOccurred(), out)
	return out
}

// With kube-router enforcing them, the NetworkPolicies do what they say: a
// pod elsewhere reaches neither the servers nor the peers API; a metrics
// scraper reaches the servers' port; a pod that copies the servers' labels
// gets through the label-based policies, and the peers API refuses it for
// want of a member's token. The mesh itself (DNS included) keeps working:
// every other e2e test runs under the same enforcement.
func TestNetworkPoliciesAreEnforced(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-policy")
	cluster.CreateReadyGroup(t, g, ns, 2, "2s")
	pods := cluster.WaitForFullMesh(g, ns, 2, 30*time.Second)
	target := pods[cluster.Names(pods)[0]]
	peer := fmt.Sprintf(`{name: PEERS, value: "%s:8080"}`, target.Status.PodIP)
	api := fmt.Sprintf(`{name: PEERS_URL, value: "http://peering-operator.peering-system.svc:8082/v1/namespaces/%s/peergroups/mesh/peers"}`, ns)

	elsewhere := cluster.Namespace(t, "e2e-elsewhere")
	for _, p := range []string{
		probePod(elsewhere, "stranger", "app: probe", peer),
		probePod(elsewhere, "scraper", `app: probe, peering.simulated-peering.io/metrics-scraper: "true"`, peer),
		probePod(elsewhere, "stranger-api", "app: probe", api),
		probePod(ns, "copycat", "app.kubernetes.io/name: peering-server, app.kubernetes.io/instance: mesh", api),
	} {
		out, err := cluster.KubectlApply(p)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}
	for _, p := range []struct{ ns, name string }{{elsewhere, "stranger"}, {elsewhere, "scraper"}, {elsewhere, "stranger-api"}, {ns, "copycat"}} {
		out, err := cluster.Kubectl("-n", p.ns, "wait", "pod/"+p.name, "--for=jsonpath={.status.phase}=Running", "--timeout=60s")
		g.Expect(err).NotTo(HaveOccurred(), out)
	}

	g.Eventually(func() string { return podLog(g, elsewhere, "scraper") }).WithTimeout(20*time.Second).
		Should(ContainSubstring("pong from "+target.Name), "a metrics scraper reaches the servers' port")
	g.Eventually(func() string { return podLog(g, elsewhere, "stranger") }).WithTimeout(20*time.Second).
		Should(MatchRegexp(`ping to \S+ \(`+target.Status.PodIP+`:8080.*failed`), "another namespace's pod is refused")
	g.Expect(podLog(g, elsewhere, "stranger")).NotTo(ContainSubstring("pong from"))
	g.Eventually(func() string { return podLog(g, elsewhere, "stranger-api") }).WithTimeout(20*time.Second).
		Should(And(ContainSubstring("peers endpoint unreachable"), Not(ContainSubstring("status 40"))), "the peers API is not reachable from elsewhere")
	g.Eventually(func() string { return podLog(g, ns, "copycat") }).WithTimeout(20*time.Second).
		Should(ContainSubstring("401 Unauthorized"), "a copycat reaches the peers API, which refuses it")
	t.Logf("stranger: %s", lastLine(podLog(g, elsewhere, "stranger")))
	t.Logf("stranger-api: %s", lastLine(podLog(g, elsewhere, "stranger-api")))
	t.Logf("copycat: %s", lastLine(podLog(g, ns, "copycat")))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
