//go:build e2e

package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// kube-score on everything the operator made for the dev group, pods
// included, as the cluster stores them: no critical finding. One check is
// left out on purpose: container-image-pull-policy wants Always, which a
// cluster without a registry (this one) cannot pull; pin images by digest
// instead where a registry exists.
func TestWhatTheOperatorRendersScoresClean(t *testing.T) {
	g := NewWithT(t)
	out, err := cluster.Kubectl("-n", "peering-dev", "get", "serviceaccounts,services,networkpolicies,replicasets,pods",
		"-l", "app.kubernetes.io/instance=mesh", "-o", "yaml")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("kind: Pod"))
	cmd := exec.Command(filepath.Join(cluster.Root, "bin", "kube-score"), "score", "--output-format", "ci",
		"--ignore-test", "container-image-pull-policy",
		// Optional checks it meets too: keep them met.
		"--enable-optional-test", "container-seccomp-profile",
		"--enable-optional-test", "container-resource-requests-equal-limits",
		"--enable-optional-test", "container-cpu-requests-equal-limits",
		"--enable-optional-test", "container-memory-requests-equal-limits",
		"--enable-optional-test", "container-ephemeral-storage-request-equals-limit",
		"--enable-optional-test", "container-ports-check", "-")
	cmd.Stdin = strings.NewReader(out)
	var report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &report, &report
	cmd.Run() // exits 1 on a critical finding: the report says which
	t.Logf("kube-score:\n%s", report.String())
	g.Expect(report.String()).To(ContainSubstring("[OK]"), "kube-score read the objects")
	g.Expect(report.String()).NotTo(ContainSubstring("[CRITICAL]"))
	g.Expect(report.String()).NotTo(ContainSubstring("[SKIPPED]"))
}
