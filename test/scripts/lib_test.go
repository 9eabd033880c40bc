// Package scripts tests the guards in hack/lib.sh that every root script
// relies on before it copies, removes or unmounts a path.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bash runs a snippet after sourcing hack/lib.sh, with env added to the
// test's own environment.
func bash(t *testing.T, env []string, snippet string) (stdout, stderr string, err error) {
	t.Helper()
	lib, err := filepath.Abs("../../hack/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `set -euo pipefail; source "$1"; `+snippet, "bash", lib)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestRequireDirRefusesDangerousPaths(t *testing.T) {
	for _, path := range []string{"", "/", "//", "/var", "/var/", "relative/path", "/var/lib/../..", "/var/./lib"} {
		t.Run(path, func(t *testing.T) {
			_, stderr, err := bash(t, []string{"P=" + path}, `require_dir "the state folder" "$P"; echo accepted`)
			if err == nil {
				t.Fatalf("require_dir accepted %q", path)
			}
			if !strings.Contains(stderr, "the state folder") {
				t.Errorf("the error does not name what was checked: %q", stderr)
			}
		})
	}
	for _, path := range []string{"/var/lib/simulated-peering", "/tmp/x/", "/root/.cache/simulated-peering/bin"} {
		if _, stderr, err := bash(t, []string{"P=" + path}, `require_dir state "$P"`); err != nil {
			t.Errorf("require_dir refused %q: %s", path, stderr)
		}
	}
}

// The fresh-machine bug: with the module not yet in the module cache, asking
// `go list -m` for its directory printed an empty line and exited 0, and the
// flux build then copied "/". module_dir must download it, and print a
// directory inside that cache holding the module.
func TestModuleDirDownloadsIntoAnEmptyCache(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the flux2 module from the module proxy")
	}
	cache := t.TempDir()
	// -modcacherw: the test's cleanup can remove what go downloaded.
	env := []string{"GOMODCACHE=" + cache, "GOFLAGS=-modcacherw"}
	stdout, stderr, err := bash(t, env, `cd ../../hack/flux/cli && module_dir "github.com/fluxcd/flux2/v2@$FLUX_CLI_VERSION"`)
	if err != nil {
		t.Fatalf("module_dir: %v\n%s", err, stderr)
	}
	dir := strings.TrimSpace(stdout)
	if !strings.HasPrefix(dir, cache+string(filepath.Separator)) {
		t.Fatalf("module_dir printed %q, not a folder in the empty module cache %s", dir, cache)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "flux")); err != nil {
		t.Fatalf("%s is not the flux2 module: %v", dir, err)
	}
}

// When the module cannot be had (no proxy, empty cache), module_dir fails
// with a message and prints no path for a caller to act on.
func TestModuleDirFailsLoudlyWhenTheModuleCannotBeHad(t *testing.T) {
	env := []string{"GOMODCACHE=" + t.TempDir(), "GOFLAGS=-modcacherw", "GOPROXY=off"}
	stdout, stderr, err := bash(t, env, `src=$(module_dir "github.com/fluxcd/flux2/v2@$FLUX_CLI_VERSION"); echo "would copy '$src'"`)
	if err == nil {
		t.Fatalf("module_dir succeeded without a module proxy: %q", stdout)
	}
	if strings.Contains(stdout, "would copy") {
		t.Fatalf("the caller went on with %q", stdout)
	}
	if !strings.Contains(stderr, "go mod download github.com/fluxcd/flux2/v2@") {
		t.Errorf("the error does not say what failed: %q", stderr)
	}
}

// Every cluster script (down.sh included, which unmounts and removes what is
// below the state folder) sources hack/cluster/lib.sh first: it must stop
// there when the state folder is dangerous, before any script acts on it.
func TestClusterScriptsRefuseADangerousStateFolder(t *testing.T) {
	lib, err := filepath.Abs("../../hack/cluster/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{"/", "/var", "var/lib/x", "/var/lib/simulated-peering/.."} {
		cmd := exec.Command("bash", "-c", `source "$1"; echo "went on with $STATE"`, "bash", lib)
		cmd.Env = append(os.Environ(), "PEERING_CLUSTER_STATE="+state)
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "went on") {
			t.Errorf("PEERING_CLUSTER_STATE=%q was accepted: %s", state, out)
		} else if !strings.Contains(string(out), "PEERING_CLUSTER_STATE") {
			t.Errorf("PEERING_CLUSTER_STATE=%q: the error does not name the variable: %s", state, out)
		}
	}
}

// NODES is checked where it is read, and the node layout the scripts
// derive from it is the documented one.
func TestClusterNodeLayout(t *testing.T) {
	lib, err := filepath.Abs("../../hack/cluster/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, nodes := range []string{"0", "6", "x", "3; rm -rf /tmp/nope"} {
		cmd := exec.Command("bash", "-c", `source "$1"; echo "went on with $NODES"`, "bash", lib)
		cmd.Env = append(os.Environ(), "NODES="+nodes)
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "went on") || !strings.Contains(string(out), "NODES=") {
			t.Errorf("NODES=%q: %v %s", nodes, err, out)
		}
	}
	layout := func(env ...string) string {
		cmd := exec.Command("bash", "-c", `source "$1"; for i in 1 2 3 4 5; do echo "$(node_name $i) $(node_ip $i) $(node_pod_cidr $i) $(node_zone $i)"; done`, "bash", lib)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return string(out)
	}
	out := layout("NODES=5")
	want := `peering-node-1 172.31.0.11 10.244.0.0/24 zone-a
peering-node-2 172.31.0.12 10.244.1.0/24 zone-a
peering-node-3 172.31.0.13 10.244.2.0/24 zone-b
peering-node-4 172.31.0.14 10.244.3.0/24 zone-b
peering-node-5 172.31.0.15 10.244.4.0/24 zone-c
`
	if moved := layout("PEERING_POD_CIDR=172.20.0.0/16"); !strings.HasPrefix(moved, "peering-node-1 172.31.0.11 172.20.0.0/24 zone-a\n") {
		t.Errorf("PEERING_POD_CIDR=172.20.0.0/16 gives\n%s", moved)
	}
	for _, cidr := range []string{"10.88.0.0/17", "8.8.0.0/16", "10.256.0.0/16", "10.1.2.0/16", "10.1.0.0/16; rm -rf /tmp/x"} {
		cmd := exec.Command("bash", "-c", `source "$1"; echo "went on with $CLUSTER_CIDR"`, "bash", lib)
		cmd.Env = append(os.Environ(), "PEERING_POD_CIDR="+cidr)
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "went on") || !strings.Contains(string(out), "PEERING_POD_CIDR=") {
			t.Errorf("PEERING_POD_CIDR=%q: %v %s", cidr, err, out)
		}
	}
	if string(out) != want {
		t.Fatalf("layout:\n%s\nwant:\n%s", out, want)
	}
}
