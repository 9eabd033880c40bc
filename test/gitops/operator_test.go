package gitops

import (
	"bytes"
	"os/exec"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The operator as shipped is highly available: two replicas that a rollout
// replaces one at a time, a PodDisruptionBudget that keeps one through a
// drain, and a spread over nodes and zones.
func TestTheOperatorShipsHighlyAvailable(t *testing.T) {
	g := NewWithT(t)
	objs, err := render(diskFS(), path("config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	deployments := find(objs, "Deployment")
	g.Expect(deployments).To(HaveLen(1))
	d := deployments[0]
	replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
	g.Expect(replicas).To(BeNumerically("==", 2))
	unavailable, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "strategy", "rollingUpdate", "maxUnavailable")
	g.Expect(unavailable).To(BeNumerically("==", 0), "a rollout takes a replica away before its successor is Ready")
	spread, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "topologySpreadConstraints")
	var keys []any
	for _, c := range spread {
		keys = append(keys, c.(map[string]any)["topologyKey"])
	}
	g.Expect(keys).To(ConsistOf("kubernetes.io/hostname", "topology.kubernetes.io/zone"))
	args, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	g.Expect(args[0].(map[string]any)["args"]).To(ContainElement("--leader-elect"))

	pdbs := find(objs, "PodDisruptionBudget")
	g.Expect(pdbs).To(HaveLen(1))
	minAvailable, _, _ := unstructured.NestedFieldNoCopy(pdbs[0].Object, "spec", "minAvailable")
	g.Expect(minAvailable).To(BeNumerically("==", 1))
	selector, _, _ := unstructured.NestedStringMap(pdbs[0].Object, "spec", "selector", "matchLabels")
	labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	for k, v := range selector {
		g.Expect(labels).To(HaveKeyWithValue(k, v), "the budget selects the operator's pods")
	}
}

// kube-score on config/default (the operator's Deployment, Service,
// NetworkPolicy, PodDisruptionBudget, RBAC): no critical finding. The
// rendered server pods are scored on the cluster (test/e2e).
func TestTheOperatorsManifestsScoreClean(t *testing.T) {
	g := NewWithT(t)
	objs, err := render(diskFS(), path("config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	var stream bytes.Buffer
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		b, err := yaml.Marshal(o.Object)
		g.Expect(err).NotTo(HaveOccurred())
		stream.WriteString("---\n")
		stream.Write(b)
	}
	cmd := exec.Command(path("bin", "kube-score"), "score", "--output-format", "ci",
		"--ignore-test", "container-image-pull-policy", // no registry here: see test/e2e/score_test.go
		"--enable-optional-test", "container-seccomp-profile",
		"--enable-optional-test", "container-ephemeral-storage-request-equals-limit",
		"--enable-optional-test", "container-resource-requests-equal-limits", "-")
	cmd.Stdin = &stream
	var report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &report, &report
	cmd.Run() // exits 1 on a critical finding: the report says which
	t.Logf("kube-score:\n%s", report.String())
	g.Expect(report.String()).To(ContainSubstring("[OK] peering-operator/peering-system apps/v1/Deployment"))
	g.Expect(report.String()).NotTo(ContainSubstring("[CRITICAL]"))
}
