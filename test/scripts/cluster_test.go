package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asRoot skips a test that changes this machine's namespaces and tables
// when it cannot (make test and CI run as root).
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: plants network namespaces, iptables chains and ipsets")
	}
}

// noClusterHere skips a test that needs a machine without a Kubernetes of
// its own: a kubelet running, or this project's cluster up or left over
// (its processes gone, its namespaces and routes still there), makes
// preflight refuse for that reason first. Under CI the machine is cleaned
// first, so there it fails instead of hiding the test.
func noClusterHere(t *testing.T) {
	t.Helper()
	var found string
	if out, err := exec.Command("pgrep", "-x", "kubelet|kube-proxy").Output(); err == nil {
		found = "a kubelet or kube-proxy runs (pids " + strings.Join(strings.Fields(string(out)), ",") + ")"
	} else if _, err := os.Stat("/sys/class/net/peeringn0"); err == nil {
		found = "the cluster's bridge peeringn0 exists"
	} else if ns, _ := filepath.Glob("/run/netns/peering-node-*"); len(ns) > 0 {
		found = "the cluster's network namespace " + filepath.Base(ns[0]) + " exists"
	}
	if found == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: CI must run on a machine without a cluster (make cluster-down)", found)
	}
	t.Skipf("%s: a cluster is up or left over here; make cluster-down to run this test", found)
}

// script runs a cluster script with the cluster's state in state.
func script(t *testing.T, state string, env []string, path string, args ...string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(abs, args...)
	cmd.Env = append(os.Environ(), append(env, "PEERING_CLUSTER_STATE="+state)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Other software's look-alikes (a podman-style cni-* namespace with a
// 10.88.x address, processes named /pause and /server, KUBE-* and CNI-*
// chains with jumps to them, a KUBE-* ipset) and stale PID files naming an
// unrelated live process all survive two teardowns, and the stale records
// are gone. The teardown before issue 22 killed the processes, deleted the
// chains, the ipset and the namespace, and killed whatever the PID files
// named.
func TestTeardownLeavesOtherSoftwareAlone(t *testing.T) {
	asRoot(t)
	state, lookalikes := filepath.Join(t.TempDir(), "state"), filepath.Join(t.TempDir(), "lookalikes")
	env := []string{"LOOKALIKES=" + lookalikes}
	if out, err := script(t, state, env, "lookalikes.sh", "plant"); err != nil {
		t.Fatalf("plant: %v\n%s", err, out)
	}
	t.Cleanup(func() { script(t, state, env, "lookalikes.sh", "remove") })
	for range 2 {
		if out, err := script(t, state, env, "../../hack/cluster/down.sh"); err != nil {
			t.Fatalf("down.sh: %v\n%s", err, out)
		}
	}
	if out, err := script(t, state, env, "lookalikes.sh", "check"); err != nil {
		t.Fatalf("down.sh removed what was not the cluster's:\n%s", out)
	}
	stale, _ := filepath.Glob(filepath.Join(state, "*", "*.pid"))
	more, _ := filepath.Glob(filepath.Join(state, "nodes", "*", "pids", "*.pid"))
	if len(stale)+len(more) > 0 {
		t.Errorf("stale PID files were kept: %v %v", stale, more)
	}
}

// The cluster's cgroup names are the machine's: a teardown with another
// state folder (which did not record making them) leaves every process in
// them alone. Before this was tested, such a teardown killed a running
// cluster's control plane and a node.
func TestTeardownLeavesCgroupsItDidNotRecord(t *testing.T) {
	asRoot(t)
	root := "/sys/fs/cgroup/pids/simulated-peering"
	if _, err := os.Stat(root); err == nil {
		t.Skip("a cluster's cgroup exists here (a cluster is up?): the test would have to use it")
	}
	dir := filepath.Join(root, "control-plane")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skip("cannot make a pids cgroup here:", err)
	}
	t.Cleanup(func() { os.Remove(dir); os.Remove(root) })
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { other.Wait(); close(exited) }()
	t.Cleanup(func() { other.Process.Kill(); <-exited })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(other.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(state, "nodes", "peering-node-1", "pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := script(t, state, nil, "../../hack/cluster/down.sh"); err != nil {
		t.Fatalf("down.sh: %v\n%s", err, out)
	}
	select {
	case <-exited:
		t.Fatal("down.sh killed a process in a cgroup it did not record")
	case <-time.After(time.Second):
	}
}

// A process the cluster recorded is stopped, and one whose PID file names
// another start time (a reused PID) is not.
func TestTeardownStopsOnlyTheRecordedProcess(t *testing.T) {
	asRoot(t)
	state := filepath.Join(t.TempDir(), "state")
	ours := exec.Command("sleep", "300")
	other := exec.Command("sleep", "300")
	for _, c := range []*exec.Cmd{ours, other} {
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill() })
	}
	exited, otherExited := make(chan error, 1), make(chan error, 1)
	go func() { exited <- ours.Wait() }()
	go func() { otherExited <- other.Wait() }()
	snippet := `mkdir -p "$PIDS"; record_pid "$PIDS/etcd.pid" ` + strconv.Itoa(ours.Process.Pid) +
		`; record_pid "$PIDS/kube-apiserver.pid" ` + strconv.Itoa(other.Process.Pid) +
		`; read -r pid start boot <"$PIDS/kube-apiserver.pid"; echo "$pid $((start - 1)) $boot" >"$PIDS/kube-apiserver.pid"`
	lib, _ := filepath.Abs("../../hack/cluster/lib.sh")
	cmd := exec.Command("bash", "-c", `set -euo pipefail; source "$1"; `+snippet, "bash", lib)
	cmd.Env = append(os.Environ(), "PEERING_CLUSTER_STATE="+state)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("recording: %v\n%s", err, out)
	}
	if out, err := script(t, state, nil, "../../hack/cluster/down.sh"); err != nil {
		t.Fatalf("down.sh: %v\n%s", err, out)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the recorded process was not stopped")
	}
	select { // a killed child would be a zombie that still takes signals: wait for it instead
	case err := <-otherExited:
		t.Fatalf("the process whose start time differs from the record was stopped: %v", err)
	case <-time.After(time.Second):
	}
}

// make cluster-up refuses, with one line and before it changes anything,
// to start where another Kubernetes data plane runs or its address range
// is taken.
func TestClusterUpRefusesAnotherKubernetes(t *testing.T) {
	asRoot(t)
	noClusterHere(t)
	kubelet := filepath.Join(t.TempDir(), "kubelet")
	if b, err := os.ReadFile("/bin/sleep"); err != nil || os.WriteFile(kubelet, b, 0o755) != nil {
		t.Fatalf("copying sleep: %v", err)
	}
	run := func(t *testing.T, env ...string) (string, string) {
		state := filepath.Join(t.TempDir(), "state")
		out, err := script(t, state, env, "../../hack/cluster/up.sh")
		if err == nil {
			t.Fatalf("up.sh started:\n%s", out)
		}
		if entries, _ := os.ReadDir(state); len(entries) > 0 {
			t.Errorf("up.sh changed its state folder before refusing: %v", entries)
		}
		return strings.TrimSpace(out), state
	}
	oneLine := func(t *testing.T, out string, want ...string) {
		t.Helper()
		if strings.Count(out, "\n") > 0 || !strings.HasPrefix(out, "cluster-up: refusing to start: ") {
			t.Errorf("want one line starting 'cluster-up: refusing to start: ', got:\n%s", out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("the refusal does not say %q: %s", w, out)
			}
		}
	}

	t.Run("a kubelet it did not start", func(t *testing.T) {
		c := exec.Command(kubelet, "300")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
		out, _ := run(t)
		oneLine(t, out, "kubelet", strconv.Itoa(c.Process.Pid), kubelet)
	})
	t.Run("a kubelet's chain in the machine's tables", func(t *testing.T) {
		iptables(t, "-t", "mangle", "-N", "KUBE-KUBELET-CANARY")
		t.Cleanup(func() { exec.Command("iptables", "-w", "5", "-t", "mangle", "-X", "KUBE-KUBELET-CANARY").Run() })
		out, _ := run(t)
		oneLine(t, out, "KUBE-KUBELET-CANARY", "mangle")
	})
	t.Run("a route into the pod range", func(t *testing.T) {
		if out, err := exec.Command("ip", "route", "add", "blackhole", "10.251.9.0/24").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "route", "del", "blackhole", "10.251.9.0/24").Run() })
		out, _ := run(t, "PEERING_POD_CIDR=10.251.0.0/16")
		oneLine(t, out, "10.251.9.0/24", "PEERING_POD_CIDR")
	})
	t.Run("a network namespace with a node's name", func(t *testing.T) {
		if out, err := exec.Command("ip", "netns", "add", "peering-node-4").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", "peering-node-4").Run() })
		out, _ := run(t)
		oneLine(t, out, "peering-node-4")
	})
	// The look-alikes of other software that is no Kubernetes data plane
	// (a lone KUBE-* chain, a CNI-* chain, a 10.88.x podman namespace) do
	// not stop it.
	t.Run("look-alikes alone pass", func(t *testing.T) {
		state, lookalikes := filepath.Join(t.TempDir(), "state"), filepath.Join(t.TempDir(), "lookalikes")
		env := []string{"LOOKALIKES=" + lookalikes}
		if out, err := script(t, state, env, "lookalikes.sh", "plant"); err != nil {
			t.Fatalf("plant: %v\n%s", err, out)
		}
		defer script(t, state, env, "lookalikes.sh", "remove")
		if out, err := script(t, state, env, "../../hack/cluster/preflight.sh"); err != nil {
			t.Fatalf("preflight refused: %v\n%s", err, out)
		}
	})
}

func iptables(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables %v: %v\n%s", args, err, out)
	}
}
