package readme

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run runs a shell script in the checkout as its own process group, killed
// (with any server it left in the background) when the test ends.
func run(t *testing.T, script string, timeout time.Duration) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = Root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("timed out after %s", timeout)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// The "Run one server locally" block, as written but on free ports, does
// what its comments say.
func TestStandaloneExample(t *testing.T) {
	block, err := Block("standalone")
	if err != nil {
		t.Fatal(err)
	}
	block = strings.NewReplacer("8081", freePort(t), "8082", freePort(t)).Replace(block)
	// Around the block: the background jobs' PIDs when it calls kill, and
	// after it how each server ended (bash forgets a finished job's number
	// once another job is waited for, but not its PID).
	script := "set -e\n" + `kill() { pids=$(jobs -p); builtin kill "$@"; }` + "\n" + block +
		`j=0; for pid in $pids; do j=$((j + 1)); status=0; wait "$pid" || status=$?; echo "server $j exited $status"; done` + "\n"
	out, err := run(t, script, 5*time.Minute)
	if err != nil {
		t.Fatalf("the README's standalone block failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"HTTP/1.1 200 OK", "X-Peering-Pod: a", "\npong\n", // curl -i …/ping
		"peering_peers 1", `peering_pings_total{outcome="ok"`, // curl …/metrics | grep peering_
		`msg="pong from b`,                       // a's log: b answered
		"server 1 exited 0", "server 2 exited 0", // kill: SIGTERM → exit 0
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the standalone block's output lacks %q:\n%s", want, out)
		}
	}
}

// Every `$ command` of the transcript block prints exactly what follows it.
func TestTranscriptExample(t *testing.T) {
	if out, err := run(t, "make build", 5*time.Minute); err != nil { // the README's block above builds it
		t.Fatalf("make build: %v\n%s", err, out)
	}
	block, err := Block("transcript")
	if err != nil {
		t.Fatal(err)
	}
	ts := Transcripts(block)
	if len(ts) == 0 {
		t.Fatal("the transcript block has no $ lines")
	}
	for _, tr := range ts {
		out, err := run(t, tr.Command, time.Minute)
		if err != nil {
			t.Errorf("%s: %v", tr.Command, err)
		}
		if out != tr.Output {
			t.Errorf("$ %s\nprinted:\n%s\nthe README says:\n%s", tr.Command, out, tr.Output)
		}
	}
}

var (
	makeTarget  = regexp.MustCompile("\\bmake ([a-z][a-z0-9-]*)")
	codeSpan    = regexp.MustCompile("`([^`\n]+)`|\\]\\(([^)#]+)\\)")
	placeholder = regexp.MustCompile(`<[a-z]+>`) // clusters/<name>/
	helpTarget  = regexp.MustCompile(`(?m)^\s+(?:\x1b\[[0-9;]*m)?([a-z][a-z0-9-]*)`)
)

// Every `make X` the README mentions is a target `make help` lists.
func TestReadmeMakeTargetsExist(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	help, err := run(t, "make --no-print-directory help", time.Minute)
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, help)
	}
	var targets []string
	for _, m := range helpTarget.FindAllStringSubmatch(help, -1) {
		targets = append(targets, m[1])
	}
	mentioned := makeTarget.FindAllStringSubmatch(string(readme), -1)
	if len(mentioned) < 5 {
		t.Fatalf("found only %d make commands in the README; is the pattern broken?", len(mentioned))
	}
	for _, m := range mentioned {
		if !slices.Contains(targets, m[1]) {
			t.Errorf("the README mentions `make %s`, which `make help` does not list (it lists %v)", m[1], targets)
		}
	}
}

// Every file or folder of the checkout the README names (in a code span or a
// link, starting at a top-level entry) exists.
func TestReadmePathsExist(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(Root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	entries, err := os.ReadDir(Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "bin" { // built, not checked in
			top[e.Name()] = true
		}
	}
	checked := 0
	for _, m := range codeSpan.FindAllStringSubmatch(string(readme), -1) {
		for _, word := range strings.Fields(m[1] + m[2]) {
			word = strings.TrimRight(word, ".,;:")
			first, _, _ := strings.Cut(strings.TrimPrefix(word, "./"), "/")
			if !top[first] && !strings.HasPrefix(first, "Dockerfile.") {
				continue
			}
			matches, _ := filepath.Glob(filepath.Join(Root, placeholder.ReplaceAllString(word, "*")))
			if len(matches) == 0 {
				t.Errorf("the README names %q, which does not exist", word)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d paths; is the pattern broken?", checked)
	}
}
