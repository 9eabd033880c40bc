//go:build e2e

// Package e2e tests the whole system on the local cluster (make cluster-up):
// real pods from the project's images pinging each other, driven through the
// real kubectl.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

func TestMain(m *testing.M) {
	err := cluster.Connect()
	if err == nil {
		// Install the operator as a user would, once for every test.
		err = cluster.Run(exec.Command(filepath.Join(cluster.Root, "hack", "deploy.sh"), "dev"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
