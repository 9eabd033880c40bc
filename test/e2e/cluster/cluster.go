// Package cluster is what the end-to-end tests share: a client and the real
// kubectl for the local cluster (make cluster-up), and readers of the
// servers' logs.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
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
	// Root is the checkout.
	Root = envtest.RepoRoot()
	// Kubeconfig is the local cluster's admin kubeconfig.
	Kubeconfig = filepath.Join(StateDir(), "pki", "admin.kubeconfig")
	// K8s is a client for the local cluster, set by Connect.
	K8s client.Client
	ctx = context.Background()
)

// StateDir is where hack/cluster keeps the local cluster's state.
func StateDir() string {
	if s := os.Getenv("PEERING_CLUSTER_STATE"); s != "" {
		return s
	}
	return "/var/lib/simulated-peering"
}

// Connect sets K8s up for the local cluster.
func Connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", Kubeconfig)
	if err != nil {
		return fmt.Errorf("is the cluster up? (make cluster-up): %w", err)
	}
	scheme := runtime.NewScheme()
	clientgoscheme.AddToScheme(scheme)
	v1alpha1.AddToScheme(scheme)
	K8s, err = client.New(cfg, client.Options{Scheme: scheme})
	return err
}

// Run runs a command, returning its output in the error.
func Run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// kubectl runs the real kubectl client against the cluster.
func Kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(Root, "bin", "kubectl"), append([]string{"--kubeconfig", Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func KubectlApply(yaml string) (string, error) {
	cmd := exec.Command(filepath.Join(Root, "bin", "kubectl"), "--kubeconfig", Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Namespace makes a restricted namespace for one test and removes it after.
// The name gets a random suffix, so a test can run again (-count) while
// its previous namespace is still terminating.
func Namespace(t *testing.T, prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := K8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { K8s.Delete(ctx, ns) })
	return ns.Name
}

// WaitForTeardowns waits until no namespace is being deleted, and returns
// how long that took: the earlier tests' groups stopping (their containers,
// kube-router resyncing its rules) load the machine after a test ends (12-13 s
// after the lossy-node test), which a test measuring a quiet mesh must not
// count as its own.
func WaitForTeardowns(g Gomega, within time.Duration) time.Duration {
	began := time.Now()
	g.Eventually(func(g Gomega) []string {
		var list corev1.NamespaceList
		g.Expect(K8s.List(ctx, &list)).To(Succeed())
		var deleting []string
		for _, ns := range list.Items {
			if ns.DeletionTimestamp != nil {
				deleting = append(deleting, ns.Name)
			}
		}
		return deleting
	}).WithTimeout(within).WithPolling(time.Second).Should(BeEmpty(), "namespaces still being deleted")
	return time.Since(began)
}

func Group(ns string, replicas int, interval string) string {
	return fmt.Sprintf(`apiVersion: peering.simulated-peering.io/v1alpha1
kind: PeerGroup
metadata: {name: mesh, namespace: %s}
spec: {replicas: %d, pingInterval: %s, pingTimeout: 1s}
`, ns, replicas, interval)
}

// createReadyGroup applies a PeerGroup and waits, with kubectl, for Ready.
func CreateReadyGroup(t *testing.T, g Gomega, ns string, replicas int, interval string) {
	out, err := KubectlApply(Group(ns, replicas, interval))
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), "PeerGroup %s/mesh never became Ready: %s", ns, out)
}

// pods returns the group's running pods, by name.
func Pods(g Gomega, ns string) map[string]corev1.Pod {
	var list corev1.PodList
	g.Expect(K8s.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "mesh"})).To(Succeed())
	out := map[string]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

func Names(m map[string]corev1.Pod) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LogLine is one server log line: when, and its message.
type LogLine struct {
	At  time.Time
	Msg string
}

var lineRE = regexp.MustCompile(`^time=(\S+) level=\S+ msg="([^"]*)"`)

// logs reads a pod's log (the server's text format).
func Logs(g Gomega, ns, pod string) []LogLine {
	out, err := Kubectl("-n", ns, "logs", pod)
	g.Expect(err).NotTo(HaveOccurred())
	var lines []LogLine
	for _, l := range strings.Split(out, "\n") {
		if m := lineRE.FindStringSubmatch(l); m != nil {
			at, _ := time.Parse(time.RFC3339Nano, m[1])
			lines = append(lines, LogLine{At: at, Msg: m[2]})
		}
	}
	return lines
}

// pongsFrom lists when pod logged a pong from peer.
func PongsFrom(lines []LogLine, peer string) []time.Time {
	var out []time.Time
	for _, l := range lines {
		if strings.HasPrefix(l.Msg, "pong from "+peer+" ") {
			out = append(out, l.At)
		}
	}
	return out
}

func Restarts(p corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

func GetGroup(g Gomega, ns string) *v1alpha1.PeerGroup {
	pg := &v1alpha1.PeerGroup{}
	g.Expect(K8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mesh"}, pg)).To(Succeed())
	return pg
}

// waitForFullMesh waits until each of the n pods has logged a pong from
// every other one (and none from itself), and returns the pods.
func WaitForFullMesh(g Gomega, ns string, n int, within time.Duration) map[string]corev1.Pod {
	running := Pods(g, ns)
	g.Expect(running).To(HaveLen(n))
	for name := range running {
		g.Eventually(func(g Gomega) {
			lines := Logs(g, ns, name)
			for other := range running {
				if other != name {
					g.Expect(PongsFrom(lines, other)).NotTo(BeEmpty(), "%s has no pong from %s", name, other)
				}
			}
			g.Expect(PongsFrom(lines, name)).To(BeEmpty(), "%s pinged itself", name)
		}).WithTimeout(within).WithPolling(time.Second).Should(Succeed(), "every pod logs a pong from each other pod within %s", within)
	}
	return running
}

// PortForward runs `kubectl port-forward` to target (e.g. svc/x) in ns until
// the test ends, and returns the local address it listens on.
func PortForward(t *testing.T, ns, target string, port int) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root, "bin", "kubectl"), "--kubeconfig", Kubeconfig,
		"-n", ns, "port-forward", "--address", "127.0.0.1", target, fmt.Sprintf(":%d", port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// "Forwarding from 127.0.0.1:41231 -> 8084"
	lines := bufio.NewScanner(out)
	found := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) == 5 && f[0] == "Forwarding" {
				found <- f[2]
				break
			}
		}
		io.Copy(io.Discard, out) // kubectl logs each connection
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s %d printed no address", target, port)
		return ""
	}
}

// Artifacts is where tests leave files for people (screenshots): $ARTIFACTS,
// or _artifacts in the checkout.
func Artifacts(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(Root, "_artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Median of measured durations (the upper one of an even count).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// PodNetns is the network namespace of a pod on any node, as a path nsenter
// takes (/proc/<pid>/ns/net): the pid is one of the pod's processes, found
// in the pod's cgroup (pod<UID>) below the cluster's cgroup, where every
// node's kubelet puts its pods. The pod's own namespace files are mounted
// only inside its node's mount namespace.
func PodNetns(g Gomega, p corev1.Pod) string {
	pid := PodPID(p)
	g.Expect(pid).NotTo(BeZero(), "no process of pod %s (uid %s) in the cluster's cgroups", p.Name, p.UID)
	return fmt.Sprintf("/proc/%d/ns/net", pid)
}

// PodPID is the first process of a pod's containers (0 when none runs),
// found in the cgroups where the node's kubelet puts its pods.
func PodPID(p corev1.Pod) int {
	pid := 0
	for _, hierarchy := range []string{"pids", "memory", "cpu,cpuacct"} {
		root := filepath.Join("/sys/fs/cgroup", hierarchy, "simulated-peering")
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || pid != 0 {
				return filepath.SkipDir
			}
			if d.Name() != "cgroup.procs" || !strings.Contains(path, "/pod"+string(p.UID)+"/") {
				return nil
			}
			if b, err := os.ReadFile(path); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if n, err := strconv.Atoi(f); err == nil && n > 1 && !isPause(n) {
						pid = n
						break
					}
				}
			}
			return nil
		})
		if pid != 0 {
			return pid
		}
	}
	return 0
}

// isPause: the sandbox's pause process shares the pod's network namespace
// but is not its container.
func isPause(pid int) bool {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(comm)) == "pause"
}

// LeaseName is the operator's leader-election Lease in peering-system.
const LeaseName = "peering-operator.simulated-peering.io"

// Leader is the operator pod holding the lease ("" if none does), read as
// hack/ui.sh reads it: the holder identity is "<pod name>_<uuid>".
func Leader(g Gomega) string {
	out, err := Kubectl("-n", "peering-system", "get", "lease", LeaseName, "-o", "jsonpath={.spec.holderIdentity}")
	if err != nil {
		return ""
	}
	pod, _, _ := strings.Cut(strings.TrimSpace(out), "_")
	return pod
}
