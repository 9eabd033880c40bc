// Command bench-server measures the server binary on this machine and prints
// figures (no pass/fail):
//
//  1. /ping requests per second of the server against a bare net/http
//     handler writing "pong\n", each in its own process, in the same run;
//  2. the server's RSS and CPU with 1,000 live peers at a 10s interval.
//
// Usage: go run ./hack/bench-server -server bin/server
// BENCH_SERVER_ENV="GOGC=50 …" adds environment to the 1,000-peer run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	server := flag.String("server", "bin/server", "server binary to measure")
	bare := flag.Bool("bare", false, "internal: run the bare pong handler on $PORT")
	duration := flag.Duration("duration", 10*time.Second, "load time per target per round")
	clients := flag.Int("clients", 32, "concurrent keep-alive clients")
	peers := flag.Int("peers", 1000, "peers for the RSS/CPU run")
	soak := flag.Duration("soak", time.Minute, "how long to measure CPU with -peers peers")
	flag.Parse()
	if *bare {
		http.ListenAndServe(":"+os.Getenv("PORT"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "pong\n")
		}))
		return
	}
	self, _ := os.Executable()
	if *duration > 0 {
		throughput(*server, self, *duration, *clients)
	}
	footprint(*server, *peers, *soak)
}

// throughput alternates the two targets for three rounds and compares the best.
func throughput(server, self string, d time.Duration, clients int) {
	oursPort, barePort := freePort(), freePort()
	ours := start(server, nil, "PORT="+oursPort, "POD_NAME=bench", "PEERS=127.0.0.1:1", "PING_INTERVAL=1h")
	defer stop(ours)
	bare := start(self, []string{"-bare"}, "PORT="+barePort)
	defer stop(bare)
	waitReady("127.0.0.1:" + oursPort)
	waitReady("127.0.0.1:" + barePort)
	var best [2]float64
	for round := 1; round <= 3; round++ {
		for i, port := range []string{barePort, oursPort} {
			rps := load("http://127.0.0.1:"+port+"/ping", clients, d)
			best[i] = max(best[i], rps)
			fmt.Printf("round %d %-6s %9.0f req/s\n", round, []string{"bare", "server"}[i], rps)
		}
	}
	fmt.Printf("/ping throughput: server %.0f req/s, bare net/http %.0f req/s, ratio %.2f (target >= 0.9)\n",
		best[1], best[0], best[1]/best[0])
}

// footprint runs the server against n real pong responders at a 10s interval.
func footprint(server string, n int, soak time.Duration) {
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		addrs[i] = ln.Addr().String()
		name := fmt.Sprintf("peer-%04d", i)
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Peering-Pod", name)
			io.WriteString(w, "pong\n")
		}))
	}
	port := freePort()
	cmd := start(server, nil, append(strings.Fields(os.Getenv("BENCH_SERVER_ENV")), "PORT="+port, "POD_NAME=bench", "PEERS="+strings.Join(addrs, ","), "PING_INTERVAL=10s", "PING_TIMEOUT=2s")...)
	defer stop(cmd)
	waitReady("127.0.0.1:" + port)
	time.Sleep(15 * time.Second) // every loop has started and pinged once
	cpu0, t0 := cpuTicks(cmd.Process.Pid), time.Now()
	time.Sleep(soak)
	cpu1, elapsed := cpuTicks(cmd.Process.Pid), time.Since(t0)
	cpuSeconds := float64(cpu1-cpu0) / 100 // USER_HZ
	fmt.Printf("%d peers at 10s: RSS %.1f MiB (target < 20 MiB), CPU %.2fs over %s = %.1f%% of one core\n",
		n, float64(rssKiB(cmd.Process.Pid))/1024, cpuSeconds, elapsed.Round(time.Second), 100*cpuSeconds/elapsed.Seconds())
	fmt.Printf("  from its /metrics: %s\n", memstats("127.0.0.1:"+port))
}

// memstats picks the Go runtime's memory figures out of the server's /metrics.
func memstats(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for line := range strings.Lines(string(b)) {
		for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_goroutines"} {
			if f := strings.Fields(line); len(f) == 2 && f[0] == name {
				v, _ := strconv.ParseFloat(f[1], 64)
				if strings.HasSuffix(name, "bytes") {
					out = append(out, fmt.Sprintf("%s %.1f MiB", strings.TrimPrefix(strings.TrimSuffix(name, "_bytes"), "go_memstats_"), v/(1<<20)))
				} else {
					out = append(out, fmt.Sprintf("%s %.0f", name, v))
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

func load(url string, clients int, d time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for ctx.Err() == nil {
				resp, err := c.Get(url)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

func start(bin string, args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil { // output discarded: logging is part of the cost
		panic(err)
	}
	return cmd
}

func stop(cmd *exec.Cmd) { cmd.Process.Kill(); cmd.Wait() }

func waitReady(addr string) {
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/ping"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	panic(addr + " never came up")
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func rssKiB(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func cpuTicks(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}
