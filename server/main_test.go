package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// These tests run the real binary: exit codes and signals only exist there.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "server-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		panic("building server: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestBadEnvironmentExitsTwoNamingTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"PEERS=a:1", "PING_INTERVAL=often"}, `server: invalid PING_INTERVAL="often": want a Go duration such as 500ms, 10s or 1m`},
		{[]string{"PEERS=a:1", "PORT=0"}, `server: invalid PORT="0": want a port number 1-65535`},
		{[]string{"PEERS=a:1", "PING_INTERVAL=1s", "PING_TIMEOUT=1s"}, `server: invalid PING_TIMEOUT="1s": want a duration shorter than PING_INTERVAL="1s"`},
		{[]string{"PEERS_URL=http://x/", "PEERS_OUTAGE_ERROR_AFTER=0s"}, `server: invalid PEERS_OUTAGE_ERROR_AFTER="0s": want a positive duration such as 2m`},
		{[]string{"PEERS=a:1", "METRICS_COMPAT=kubenurse"}, `server: invalid METRICS_COMPAT="kubenurse": want goldpinger, or empty for none`},
		{[]string{"PEERS=a:1,b"}, `server: invalid PEERS="a:1,b": want a comma-separated list of host:port (address "b" is not host:port)`},
		{nil, `server: invalid PEERS/PEERS_URL="": want exactly one of PEERS`},
		{[]string{"PEERS=a:1", "PEERS_URL=http://x/"}, `not both`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cmd := exec.Command(binary)
			cmd.Env = tc.env
			var stderr, stdout bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stdout
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit = %v, want code 2", err)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr = %q, want one line containing %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout = %q", stdout.String())
			}
		})
	}
}

func TestHelpFlag(t *testing.T) {
	out, err := exec.Command(binary, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "PING_INTERVAL  default 60s") {
		t.Fatalf("--help = %s", out)
	}
}

// SIGTERM stops pinging, drains and exits 0.
func TestSIGTERMExitsZero(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(binary)
	cmd.Env = []string{"PORT=" + strconv.Itoa(port), "POD_NAME=solo", "PEERS=127.0.0.1:1", "PING_INTERVAL=1s", "PING_TIMEOUT=100ms"}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	g.Expect(cmd.Start()).To(Succeed())
	g.Eventually(func() int {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}).WithTimeout(5 * time.Second).Should(Equal(http.StatusOK))
	g.Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	g.Eventually(done).WithTimeout(10*time.Second).Should(Receive(BeNil()), "exit after SIGTERM:\n%s", &stdout)
	g.Expect(stdout.String()).To(ContainSubstring(`msg=stopped`))
}
