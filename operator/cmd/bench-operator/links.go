package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// linksPort is where the fake servers answer /links.
const linksPort = 18080

// loopback is pod i's address: 127.1.0.0/16 is this machine's own.
func loopback(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

var loopbacksTaken int

// nextLoopback reserves n loopback addresses for a group's fake servers.
func nextLoopback(n int) int {
	first := loopbacksTaken
	loopbacksTaken += n
	return first
}

// aggregation measures what the operator spends per link round on one group
// of n pods with maxPeersPerPod k (0: a full mesh): the fetches (from fake
// /links servers in a child process, every link up), the summary, the
// tracker and the web view's matrix, as the collector runs them. It prints
// the wall and CPU time, the allocation and the peak heap of a round (heap
// sampled every millisecond, garbage included, and the most the collector
// found live), above the heap before it.
func aggregation(env *testenv.Env, n, k int) {
	c := env.Client
	ns := fmt.Sprintf("bench-links-%d-%d", n, k)
	fmt.Printf("creating a group of %d ready pods with maxPeersPerPod %d, /links served by a child process…\n", n, k)
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	// An interval of an hour keeps the operator's own collector, which
	// rounds a new group at once and then once per interval, off this
	// group while the rounds measured here run: two collectors at once
	// would count twice. The figures are against a 10 s interval.
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(n)), MaxPeersPerPod: int32(k), Port: linksPort,
			PingInterval: &metav1.Duration{Duration: time.Hour}}}
	check(c.Create(ctx, pg))
	rs := replicaSetOf(c, pg)
	first := nextLoopback(n)
	inParallel(n, func(i int) {
		_, err := testenv.ReadyPod(ctx, c, rs, fmt.Sprintf("mesh-%d", i), loopback(first+i))
		check(err)
	})
	peersOf := n - 1
	if k > 0 {
		peersOf = k
	}
	url := env.PeersURL + peers.Path(pg.Namespace, pg.Name)
	waitFor(func() bool { return published(c, pg) == n && len(fetch(url+"?self=mesh-0", "").Peers) == peersOf })
	stop := launchLinkServers(url, n, first)
	defer stop()

	collector := health.NewCollector(env.Manager.GetCache())
	check(env.Manager.GetCache().Get(ctx, client.ObjectKeyFromObject(pg), pg))
	later := time.Now().Add(pg.Interval()) // every pod has been Ready for an interval
	tracker := health.NewTracker()
	const rounds = 3
	var wall, cpu time.Duration
	var allocated uint64
	var peak, peakLive uint64
	var status v1alpha1.LinksStatus
	for range rounds {
		runtime.GC()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		base := m0.HeapAlloc
		stopSampling := sampleHeap(func(top, live uint64) {
			peak, peakLive = max(peak, top-min(top, base)), max(peakLive, live-min(live, base))
		})
		cpu0, t0 := cpuSeconds(), time.Now()
		in, err := collector.Round(ctx, pg, later)
		check(err)
		in = tracker.Carry(in)
		status = tracker.Publish(health.Summarize(in), time.Now()).Links
		health.BuildMatrix(in)
		wall += time.Since(t0)
		cpu += time.Duration((cpuSeconds() - cpu0) * float64(time.Second))
		stopSampling()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		allocated += m1.TotalAlloc - m0.TotalAlloc
	}
	fmt.Printf("link round, %d pods, k=%d (%s reported up): %s wall (%.0f%% of a 10 s interval), %s CPU of the operator's process, %.1f MiB allocated; peak heap %.1f MiB (%.1f MiB live) above the heap before the round\n",
		n, k, status.Summary, (wall / rounds).Round(time.Millisecond), 100*(wall/rounds).Seconds()/10, (cpu / rounds).Round(time.Millisecond),
		float64(allocated)/rounds/(1<<20), float64(peak)/(1<<20), float64(peakLive)/(1<<20))
}

// sampleHeap reports the heap in use (garbage included) and the heap the
// last GC found live, every millisecond, until stopped.
func sampleHeap(report func(heap, live uint64)) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	go func() {
		defer close(finished)
		for {
			metrics.Read(samples)
			report(samples[0].Value.Uint64(), samples[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// launchLinkServers runs the fake servers in a child process.
func launchLinkServers(url string, n, first int) (stop func()) {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "-link-servers", "-url", url, "-n", strconv.Itoa(n), "-first", strconv.Itoa(first))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	if !bufio.NewScanner(stdout).Scan() { // "serving"
		check(fmt.Errorf("the /links servers did not start"))
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }
}

// runLinkServers serves, for each of n pods, a /links answer with its peers
// (from the peers API) all up, and prints "serving".
func runLinkServers(url string, n, first int) {
	for i := range n {
		self := fmt.Sprintf("mesh-%d", i)
		doc := fetch(url+"?self="+self, "")
		answer := peers.Links{Pod: self, Node: "bench", Window: peers.LinkWindow}
		for _, p := range doc.Peers {
			answer.Links = append(answer.Links, peers.Link{Peer: p.Name, Address: p.Address, Node: p.Node, State: peers.LinkUp,
				Since: time.Now(), LastOutcome: "ok", LastRTT: peers.Duration{Duration: time.Millisecond}, Pings: peers.LinkWindow,
				RTTP50: peers.Duration{Duration: time.Millisecond}, RTTP99: peers.Duration{Duration: 3 * time.Millisecond}})
		}
		body, err := json.Marshal(answer)
		check(err)
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback(first+i), strconv.Itoa(linksPort)))
		check(err)
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	}
	fmt.Println("serving")
	select {}
}
