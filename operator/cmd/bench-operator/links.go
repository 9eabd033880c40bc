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

// aggregation measures what the operator spends per link round on one group
// of n pods with maxPeersPerPod k: the fetches (from fake /links servers in
// a child process, every link up), the summary and the web view's matrix.
func aggregation(env *testenv.Env, n, k int) {
	c := env.Client
	fmt.Printf("creating a group of %d ready pods with maxPeersPerPod %d, /links served by a child process…\n", n, k)
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-links"}}))
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "bench-links"},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(n)), MaxPeersPerPod: int32(k), Port: linksPort,
			PingInterval: &metav1.Duration{Duration: 10 * time.Second}}}
	check(c.Create(ctx, pg))
	rs := replicaSetOf(c, pg)
	inParallel(n, func(i int) {
		_, err := testenv.ReadyPod(ctx, c, rs, fmt.Sprintf("mesh-%d", i), loopback(i))
		check(err)
	})
	url := env.PeersURL + peers.Path(pg.Namespace, pg.Name)
	waitFor(func() bool { return published(c, pg) == n && len(fetch(url+"?self=mesh-0", "").Peers) == k })
	stop := launchLinkServers(url, n)
	defer stop()

	collector := health.NewCollector(env.Manager.GetCache())
	check(env.Manager.GetCache().Get(ctx, client.ObjectKeyFromObject(pg), pg))
	later := time.Now().Add(pg.Interval()) // every pod has been Ready for an interval
	const rounds = 5
	var wall, cpu time.Duration
	var allocated uint64
	var in health.Input
	for range rounds {
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		cpu0, t0 := cpuSeconds(), time.Now()
		var err error
		in, err = collector.Round(ctx, pg, later)
		check(err)
		health.Summarize(in)
		health.BuildMatrix(in)
		wall += time.Since(t0)
		cpu += time.Duration((cpuSeconds() - cpu0) * float64(time.Second))
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		allocated += m1.TotalAlloc - m0.TotalAlloc
	}
	status := health.NewTracker().Publish(health.Summarize(in), time.Now()).Links
	in = health.Input{}
	before := heap()
	in, _ = collector.Round(ctx, pg, later) // what the collector keeps per group, for the web view
	after := heap()
	runtime.KeepAlive(in)
	fmt.Printf("link round, %d pods, k=%d (%s reported up): %s wall, %s CPU of the operator's process, %.1f MiB allocated per round; the reports kept for the web view: %.1f MiB\n",
		n, k, status.Summary, (wall / rounds).Round(time.Millisecond), (cpu / rounds).Round(time.Millisecond),
		float64(allocated)/rounds/(1<<20), float64(max(after, before)-before)/(1<<20))
}

// launchLinkServers runs the fake servers in a child process.
func launchLinkServers(url string, n int) (stop func()) {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "-link-servers", "-url", url, "-n", strconv.Itoa(n))
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
func runLinkServers(url string, n int) {
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
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback(i), strconv.Itoa(linksPort)))
		check(err)
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	}
	fmt.Println("serving")
	select {}
}
