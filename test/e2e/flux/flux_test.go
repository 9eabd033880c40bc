//go:build e2e

// Package flux tests GitOps end to end: Flux, syncing a Git repository served
// on this machine, installs the operator and the dev overlay; a git push
// changes the running mesh. The test never applies the operator or a
// PeerGroup itself.
package flux

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

const ns = "peering-dev"

// work is the Git work tree hack/flux/up.sh pushes from.
var work = filepath.Join(cluster.StateDir(), "git", "work")

func TestMain(m *testing.M) {
	err := cluster.Connect()
	if err == nil { // start from a cluster without the operator, then let Flux install it
		err = cluster.Run(exec.Command("bash", "-c", `set -e; cd "$0"
			go tool kustomize build overlays/dev | bin/kubectl --kubeconfig "$1" delete --ignore-not-found --wait -f - >/dev/null
			go tool kustomize build config/default | bin/kubectl --kubeconfig "$1" delete --ignore-not-found --wait -f - >/dev/null
			hack/flux/up.sh`, cluster.Root, cluster.Kubeconfig))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flux e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// push edits overlays/dev in the Git work tree, commits and pushes it.
func push(g Gomega, message string, edit func(string) string) {
	path := filepath.Join(work, "overlays", "dev", "kustomization.yaml")
	b, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(path, []byte(edit(string(b))), 0o644)).To(Succeed())
	g.Expect(cluster.Run(exec.Command("bash", "-c", `cd "$0" && git -c user.name=e2e -c user.email=e2e@localhost commit -qam "$1" && git push -q origin main`, work, message))).To(Succeed())
}

func set(field, value string) func(string) string {
	re := regexp.MustCompile(`(?m)^(\s+` + field + `:) .*$`)
	return func(s string) string { return re.ReplaceAllString(s, "${1} "+value) }
}

// reconcile is `flux reconcile kustomization peergroups --with-source`,
// which waits up to timeout for the Kustomization to be Ready.
func reconcile(timeout string) (string, error) {
	out, err := exec.Command(filepath.Join(cluster.Root, "bin", "flux"), "--kubeconfig", cluster.Kubeconfig,
		"-n", "flux-system", "reconcile", "kustomization", "peergroups", "--with-source", "--timeout", timeout).CombinedOutput()
	return string(out), err
}

// allPingingSince waits until each running pod has logged a pong from every
// other one after since.
func allPingingSince(g Gomega, since time.Time, within time.Duration) {
	g.Eventually(func(g Gomega) {
		pods := cluster.Pods(g, ns)
		for name := range pods {
			lines := cluster.Logs(g, ns, name)
			for other := range pods {
				if other == name {
					continue
				}
				g.Expect(slices.ContainsFunc(cluster.PongsFrom(lines, other), since.Before)).To(BeTrue(), "%s has no pong from %s since the push", name, other)
			}
		}
	}).WithTimeout(within).WithPolling(500 * time.Millisecond).Should(Succeed())
}

func TestGitPushChangesTheMesh(t *testing.T) {
	g := NewWithT(t)
	_, err := cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), "Flux did not bring the dev PeerGroup up")
	g.Expect(cluster.Pods(g, ns)).To(HaveLen(3))

	var took []time.Duration
	for _, step := range []struct {
		replicas int
		interval string
	}{{5, "5s"}, {4, "5s"}, {5, "4s"}} {
		before := cluster.Pods(g, ns)
		push(g, fmt.Sprintf("dev: %d servers every %s", step.replicas, step.interval), func(s string) string {
			return set("pingInterval", step.interval)(set("replicas", fmt.Sprint(step.replicas))(s))
		})
		start := time.Now()
		out, err := reconcile("3m")
		g.Expect(err).NotTo(HaveOccurred(), out)
		_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=jsonpath={.status.readyReplicas}="+fmt.Sprint(step.replicas), "--timeout=120s")
		g.Expect(err).NotTo(HaveOccurred())
		_, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=120s")
		g.Expect(err).NotTo(HaveOccurred())
		allPingingSince(g, start, 60*time.Second)
		took = append(took, time.Since(start))

		after := cluster.Pods(g, ns)
		g.Expect(after).To(HaveLen(step.replicas))
		for name, p := range after {
			if old, ok := before[name]; ok {
				g.Expect(p.UID).To(Equal(old.UID), "%s replaced", name)
				g.Expect(cluster.Restarts(p)).To(BeZero(), "%s restarted", name)
			}
		}
		pg := cluster.GetGroup(g, ns)
		want, _ := time.ParseDuration(step.interval)
		g.Expect(pg.Spec.PingInterval.Duration).To(Equal(want))
		_, err = cluster.Kubectl("-n", "flux-system", "wait", "kustomization/peergroups", "--for=condition=Ready", "--timeout=60s")
		g.Expect(err).NotTo(HaveOccurred(), "the Flux Kustomization is not Ready (its PeerGroup health check)")
	}
	t.Logf("git push + flux reconcile → every pod pinging the new set: %v (median %s)", took, cluster.Median(took).Round(time.Millisecond))

	// A PeerGroup that fails CEL validation: Flux reports the CRD's message
	// and the running mesh is untouched.
	before := cluster.Pods(g, ns)
	generation := cluster.GetGroup(g, ns).Generation
	push(g, "dev: broken timeout", func(s string) string {
		return strings.Replace(s, "        pingInterval: 4s", "        pingInterval: 4s\n        pingTimeout: 30s", 1)
	})
	reconcile("20s") // fails: the apply is rejected
	g.Eventually(func() string {
		out, _ := cluster.Kubectl("-n", "flux-system", "get", "kustomization/peergroups",
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
		return out
	}).WithTimeout(90 * time.Second).Should(And(HavePrefix("False"), ContainSubstring("pingTimeout must be shorter than pingInterval")))
	g.Expect(cluster.GetGroup(g, ns).Generation).To(Equal(generation), "the broken spec reached the PeerGroup")
	g.Expect(cluster.Names(cluster.Pods(g, ns))).To(Equal(cluster.Names(before)))
	allPingingSince(g, time.Now(), 30*time.Second)

	push(g, "dev: revert the broken timeout", func(s string) string { return strings.Replace(s, "\n        pingTimeout: 30s", "", 1) })
	out, err := reconcile("3m")
	g.Expect(err).NotTo(HaveOccurred(), out)
}
