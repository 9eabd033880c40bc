//go:build e2e

// Package e2e tests the whole system on the local cluster (make cluster-up):
// real pods from the project's images pinging each other, driven through the
// real kubectl.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/test/envtest"
)

var (
	root       = envtest.RepoRoot()
	kubeconfig = filepath.Join(stateDir(), "pki", "admin.kubeconfig")
	k8s        client.Client
	ctx        = context.Background()
)

func stateDir() string {
	if s := os.Getenv("PEERING_CLUSTER_STATE"); s != "" {
		return s
	}
	return "/var/lib/simulated-peering"
}

func TestMain(m *testing.M) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err == nil {
		scheme := runtime.NewScheme()
		clientgoscheme.AddToScheme(scheme)
		v1alpha1.AddToScheme(scheme)
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	if err == nil {
		// Install the operator as a user would, once for every test.
		err = run(exec.Command(filepath.Join(root, "hack", "deploy.sh"), "dev"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup (is the cluster up? make cluster-up):", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// kubectl runs the real kubectl client against the cluster.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func kubectlApply(yaml string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// namespace makes a restricted namespace for one test and removes it after.
func namespace(t *testing.T, name string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k8s.Delete(ctx, ns) })
	return name
}

func group(ns string, replicas int, interval string) string {
	return fmt.Sprintf(`apiVersion: peering.simulated-peering.io/v1alpha1
kind: PeerGroup
metadata: {name: mesh, namespace: %s}
spec: {replicas: %d, pingInterval: %s, pingTimeout: 1s}
`, ns, replicas, interval)
}

// createReadyGroup applies a PeerGroup and waits, with kubectl, for Ready.
func createReadyGroup(t *testing.T, g Gomega, ns string, replicas int, interval string) {
	out, err := kubectlApply(group(ns, replicas, interval))
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), "PeerGroup %s/mesh never became Ready: %s", ns, out)
}

// pods returns the group's running pods, by name.
func pods(g Gomega, ns string) map[string]corev1.Pod {
	var list corev1.PodList
	g.Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "mesh"})).To(Succeed())
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

func names(m map[string]corev1.Pod) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// logLine is one server log line: when, and its message.
type logLine struct {
	at  time.Time
	msg string
}

var lineRE = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]*)"`)

// logs reads a pod's log (the server's text format).
func logs(g Gomega, ns, pod string) []logLine {
	out, err := kubectl("-n", ns, "logs", pod)
	g.Expect(err).NotTo(HaveOccurred())
	var lines []logLine
	for _, l := range strings.Split(out, "\n") {
		if m := lineRE.FindStringSubmatch(l); m != nil {
			at, _ := time.Parse(time.RFC3339Nano, m[1])
			lines = append(lines, logLine{at, m[2]})
		}
	}
	return lines
}

// pongsFrom lists when pod logged a pong from peer.
func pongsFrom(lines []logLine, peer string) []time.Time {
	var out []time.Time
	for _, l := range lines {
		if strings.HasPrefix(l.msg, "pong from "+peer+" ") {
			out = append(out, l.at)
		}
	}
	return out
}

func restarts(p corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func getGroup(g Gomega, ns string) *v1alpha1.PeerGroup {
	pg := &v1alpha1.PeerGroup{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mesh"}, pg)).To(Succeed())
	return pg
}

// waitForFullMesh waits until each of the n pods has logged a pong from
// every other one (and none from itself), and returns the pods.
func waitForFullMesh(g Gomega, ns string, n int, within time.Duration) map[string]corev1.Pod {
	running := pods(g, ns)
	g.Expect(running).To(HaveLen(n))
	for name := range running {
		g.Eventually(func(g Gomega) {
			lines := logs(g, ns, name)
			for other := range running {
				if other != name {
					g.Expect(pongsFrom(lines, other)).NotTo(BeEmpty(), "%s has no pong from %s", name, other)
				}
			}
			g.Expect(pongsFrom(lines, name)).To(BeEmpty(), "%s pinged itself", name)
		}).WithTimeout(within).WithPolling(time.Second).Should(Succeed(), "every pod logs a pong from each other pod within %s", within)
	}
	return running
}
