//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
	"github.com/simulated-peering/simulated-peering/test/readme"
)

// shell runs a README block as written, with bash, in the checkout, with
// the cluster's kubectl first on PATH and its kubeconfig exported.
func shell(t *testing.T, block string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -e\n"+block)
	cmd.Dir = cluster.Root
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(cluster.Root, "bin")+":"+os.Getenv("PATH"), "KUBECONFIG="+cluster.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README block failed: %v\n--- block:\n%s--- output:\n%s", err, block, out)
	}
	return string(out)
}

// The README's PeerGroup is one the API server accepts as it stands.
func TestReadmePeerGroupIsValid(t *testing.T) {
	block, err := readme.Block("peergroup")
	if err != nil {
		t.Fatal(err)
	}
	out := shell(t, "kubectl apply --dry-run=server -f - <<'YAML'\n"+block+"YAML\n", time.Minute)
	if !strings.Contains(out, "peergroup.peering.simulated-peering.io/mesh") {
		t.Fatalf("unexpected answer to the dry run: %s", out)
	}
}

// The README's "Deploy to a cluster" block, run as written, deploys, shows
// pongs, scales and undeploys; the operator is deployed again afterwards
// for the tests that follow.
func TestReadmeDeployExample(t *testing.T) {
	block, err := readme.Block("deploy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Run(exec.Command(filepath.Join(cluster.Root, "hack", "deploy.sh"), "dev")); err != nil {
			t.Errorf("deploying the operator again: %v", err)
		}
	})
	out := shell(t, block, 15*time.Minute)
	if n := strings.Count(out, "pong from"); n != 3 {
		t.Errorf("want the 3 pong lines of `grep -m 3 pong`, got %d:\n%s", n, out)
	}
	if !regexp.MustCompile(`(?m)^mesh\s+5\s+`).MatchString(out) {
		t.Errorf("`kubectl get pg mesh` after scaling to 5 does not show 5 replicas:\n%s", out)
	}
	if got, err := cluster.Kubectl("get", "crd", "peergroups.peering.simulated-peering.io", "--ignore-not-found"); err != nil || got != "" {
		t.Errorf("after `make undeploy` the CRD is still there: %q %v", got, err)
	}
}
