// Package codegen checks that what controller-gen generates (the CRD, the
// operator's ClusterRole, the deepcopy code) matches the markers in the code:
// a changed marker without `make generate manifests` fails here.
package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/simulated-peering/simulated-peering/test/envtest"
)

func controllerGen(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, args...)...)
	cmd.Dir = envtest.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("controller-gen %v: %v", args, err)
	}
	return out
}

func sameFile(t *testing.T, generated []byte, committed string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), committed))
	if err != nil {
		t.Fatal(err)
	}
	if string(generated) != string(want) {
		t.Errorf("%s is out of date with the markers in operator/: run `make generate manifests`", committed)
	}
}

func TestGeneratedFilesAreUpToDate(t *testing.T) {
	out := t.TempDir()
	controllerGen(t, "crd:allowDangerousTypes=false", "rbac:roleName=peering-operator", "paths=./operator/...",
		"output:crd:artifacts:config="+filepath.Join(out, "crd"), "output:rbac:artifacts:config="+filepath.Join(out, "rbac"))
	for generated, committed := range map[string]string{
		"crd/peering.simulated-peering.io_peergroups.yaml": "config/crd/bases/peering.simulated-peering.io_peergroups.yaml",
		"rbac/role.yaml": "config/rbac/role.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(out, generated))
		if err != nil {
			t.Fatal(err)
		}
		sameFile(t, b, committed)
	}
	sameFile(t, controllerGen(t, "object:headerFile=hack/boilerplate.go.txt", "paths=./operator/...", "output:object:stdout"),
		"operator/api/v1alpha1/zz_generated.deepcopy.go")
}
