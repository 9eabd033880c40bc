// Command bench-operator measures the operator in-process against envtest
// and prints figures (no pass/fail):
//
//  1. peers API requests/s and p99 with 1,000 concurrent clients on one group
//     of 1,000 Ready pods, served from the informer cache;
//  2. a 1,000-pod full mesh with 1,000 parked long-polls: one more pod
//     becomes Ready, the time until each poll holds the new document;
//  3. link rounds (issue 13) on a group of 1,000 pods whose /links answers
//     come from fake servers, with maxPeersPerPod 10 and as a full mesh:
//     wall time, CPU, allocation and peak heap per round;
//  4. 10,000 pods with maxPeersPerPod 10 and 10,000 parked long-polls: a
//     cold start (against bare net/http servers too), the operator's memory,
//     one pod becoming Ready (how many polls are answered, how fast, the
//     operator's CPU), and the watches the operator holds on the API server;
//  5. the operator's heap with 1,000 PeerGroups of 10 Ready pods each, and
//     with 5,000 ReplicaSets that are not its own.
//
// The simulated servers of 2, 3 and 4 run in a child process, so their cost is
// not counted as the operator's.
//
// Usage: make bench-operator   (needs bin/kube-apiserver and bin/etcd)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

var ctx = context.Background()

func main() {
	pods := flag.Int("pods", 1000, "pods in the big group, and concurrent clients")
	groups := flag.Int("groups", 1000, "groups for the memory run (10 pods each)")
	duration := flag.Duration("duration", 10*time.Second, "load time for the throughput run")
	unrelatedRS := flag.Int("unrelated", 5000, "ReplicaSets of other applications created, which the operator must not cache")
	scalePods := flag.Int("scale", 10000, "pods in the fan-out group of the scale run (0 skips it)")
	fanOut := flag.Int("fanout", 10, "maxPeersPerPod of the scale run")
	linkPods := flag.Int("links", 1000, "pods in the fan-out group of the link round run (0 skips it)")
	meshPods := flag.Int("mesh", 1000, "pods in the full-mesh group of the link round run (0 skips it)")
	childFirst := flag.Int("first", 0, "internal: the first loopback address of the /links servers")
	memProfile := flag.String("memprofile", "", "write a heap profile here after the run with many groups")
	child := flag.Bool("pollers", false, "internal: run the simulated servers' long-polls")
	linkServers := flag.Bool("link-servers", false, "internal: serve the simulated servers' /links")
	childURL := flag.String("url", "", "internal: the peers URL the pollers use")
	childPrefix := flag.String("prefix", "mesh-", "internal: the pollers' pod name prefix")
	childN := flag.Int("n", 0, "internal: how many pollers")
	flag.Parse()
	if *child {
		runPollers(*childURL, *childPrefix, *childN)
		return
	}
	if *linkServers {
		runLinkServers(*childURL, *childN, *childFirst)
		return
	}
	// The peers API alone: its pollers carry no tokens (what authentication
	// adds per poll is BenchmarkAuthorize in operator/internal/controller).
	env, err := testenv.Start(true, testenv.WithoutPeersAPIAuth)
	check(err)
	defer env.Stop()
	c := env.Client

	fmt.Printf("creating a group of %d ready pods…\n", *pods)
	big := createGroup(c, "bench-big", "mesh", *pods)
	url := env.PeersURL + peers.Path(big.Namespace, big.Name)
	waitFor(func() bool { return len(fetch(url+"?self=mesh-0", "").Peers) == *pods-1 })

	watchesAtStart := watches(env) // the operator's informers have all started by now
	throughput(url, *pods, *duration)
	wakeUp(c, big, url, *pods)
	// The link rounds before the scale run: their peak heap is the round's,
	// not garbage the collector lets pile up above 10,000 pods' caches.
	if *linkPods > 0 {
		aggregation(env, *linkPods, *fanOut)
	}
	if *meshPods > 0 {
		aggregation(env, *meshPods, 0)
	}
	if *scalePods > 0 {
		scale(env, *scalePods, *fanOut, watchesAtStart)
	}
	if *unrelatedRS > 0 {
		unrelated(c, *unrelatedRS)
	}
	if *groups > 0 {
		memory(c, *groups)
		if *memProfile != "" {
			f, err := os.Create(*memProfile)
			check(err)
			check(pprof.WriteHeapProfile(f))
			check(f.Close())
		}
	}
}

// unrelated: memory before and after n ReplicaSets that are not the
// operator's appear in the cluster. Its caches select the managed-by label,
// so they should not grow.
func unrelated(c client.Client, n int) {
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-unrelated"}}))
	heapBefore, rssBefore := heap(), rssMiB()
	fmt.Printf("creating %d unrelated ReplicaSets…\n", n)
	labels := map[string]string{"app": "unrelated"}
	inParallel(n, func(i int) {
		check(c.Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%05d", i), Namespace: "bench-unrelated", Labels: labels},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}},
		}))
	})
	time.Sleep(3 * time.Second) // time for any informer that selects them to receive them
	heapAfter := heap()
	fmt.Printf("operator with %d unrelated ReplicaSets in the cluster: heap in use %.1f → %.1f MiB (%+.1f MiB), process RSS %.1f → %.1f MiB\n",
		n, float64(heapBefore)/(1<<20), float64(heapAfter)/(1<<20), (float64(heapAfter)-float64(heapBefore))/(1<<20), rssBefore, rssMiB())
}

// throughput: every client asks without If-None-Match, so each request is a
// full 1,000-peer document (the worst case, what a restarting mesh costs).
func throughput(url string, clients int, d time.Duration) {
	var mu sync.Mutex
	var latencies []time.Duration
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				fetch(fmt.Sprintf("%s?self=mesh-%d", url, i), "")
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	fmt.Printf("peers API, %d clients, full documents of %d peers: %.0f req/s, p50 %s, p99 %s\n",
		clients, clients-1, float64(len(latencies))/d.Seconds(),
		latencies[len(latencies)/2].Round(time.Microsecond), latencies[len(latencies)*99/100].Round(time.Microsecond))
}

// wakeUp: a full mesh of n pods long-polls in the child process; one more
// pod becomes Ready; every poll must get the new document.
func wakeUp(c client.Client, pg *v1alpha1.PeerGroup, url string, n int) {
	p := launchPollers(url, "mesh-", n)
	defer p.stop()
	p.waitParked()
	p.coldStart(fmt.Sprintf("%d-pod full mesh", n))
	cpu0 := cpuSeconds()
	start := becomeReady(c, pg, fmt.Sprintf("mesh-%d", n))
	got := p.collect(5 * time.Second)
	operatorP99 := report(fmt.Sprintf("%d-pod full mesh, one pod becomes Ready", n), got, start, n) // each lists every other
	fmt.Printf("  process CPU over the 5 s after the change: %.2f s\n", cpuSeconds()-cpu0)
	p.stop()

	// The same wake-up from a bare net/http server with the same bodies,
	// precomputed: how far the peers API is from what the machine can do.
	bare := newBareServer(url, "mesh-", n)
	defer bare.Close()
	bp := launchPollers(bare.URL, "mesh-", n)
	defer bp.stop()
	bp.waitParked()
	woken := bare.wake()
	bareP99 := report(fmt.Sprintf("the same %d parked polls released by a bare net/http server with the same bodies", n), bp.collect(5*time.Second), woken, n)
	if bareP99 > 0 {
		fmt.Printf("  wake-up p99, peers API against bare net/http: %.2f× (goal ≤ 1.5×)\n", float64(operatorP99)/float64(bareP99))
	}
}

// scale: groups of 1,000 pods (the CRD's maximum) with fan-out k, n pods
// in all, each polling from a child process per group.
func scale(env *testenv.Env, n, k int, watchesAtStart map[string]int) {
	c := env.Client
	const perGroup = 1000
	groups := max(1, n/perGroup)
	fmt.Printf("creating %d groups of %d ready pods with maxPeersPerPod %d…\n", groups, perGroup, k)
	created := time.Now()
	var pgs []*v1alpha1.PeerGroup
	var urls []string
	for g := range groups {
		pg := createGroupWith(c, fmt.Sprintf("bench-scale-%d", g), "mesh", perGroup, int32(k))
		pgs, urls = append(pgs, pg), append(urls, env.PeersURL+peers.Path(pg.Namespace, pg.Name))
	}
	for i, pg := range pgs {
		waitFor(func() bool {
			return fetch(urls[i]+"?self=mesh-0", "").Revision != "failed" && published(c, pg) == perGroup
		})
	}
	fmt.Printf("created in %s\n", time.Since(created).Round(time.Second))
	before := heapAndStacks()
	var all []*pollers
	start := time.Now()
	for _, url := range urls { // all at once: a cold start of every pod
		all = append(all, launchPollers(url, "mesh-", perGroup))
	}
	coldEnd := time.Now()
	var coldP99 time.Duration
	for _, p := range all {
		p.waitParked()
		if p.coldDone.After(coldEnd) {
			coldEnd = p.coldDone
		}
		coldP99 = max(coldP99, p.coldP99)
	}
	operatorRate := float64(groups*perGroup) / coldEnd.Sub(start).Seconds()
	fmt.Printf("cold start, %d pods in %d groups: %d polls without If-None-Match at once: %.0f req/s, worst group's p99 %s\n",
		groups*perGroup, groups, groups*perGroup, operatorRate, coldP99.Round(time.Microsecond))
	parked := float64(heapAndStacks()) - float64(before)
	fmt.Printf("operator with %d pods and %d parked polls: process RSS %.1f MiB; the polls add %.1f MiB of heap and stacks, %.1f KiB each\n",
		groups*perGroup, groups*perGroup, rssMiB(), parked/(1<<20), parked/float64(groups*perGroup)/1024)

	answers := make(chan answer, 4*n)
	for _, p := range all {
		go func() {
			for a := range p.answers {
				answers <- a
			}
		}()
	}
	merged := &pollers{answers: answers}
	for round := range 3 {
		time.Sleep(2 * time.Second)
		merged.drain(context.Background())
		cpu0 := cpuSeconds()
		start := becomeReady(c, pgs[round%len(pgs)], fmt.Sprintf("mesh-%d", perGroup+round))
		got := merged.collect(3 * time.Second)
		report(fmt.Sprintf("%d pods, k=%d, one pod becomes Ready (round %d)", groups*perGroup, k, round+1), got, start, 0)
		fmt.Printf("  process CPU over the 3 s after the change: %.2f s\n", cpuSeconds()-cpu0)
	}
	compareWatches(watchesAtStart, watches(env), fmt.Sprintf("with %d pods more", groups*perGroup))

	// The bare servers' cold start once the operator's polls are gone: both
	// at once would need more descriptors than the usual limit (20,000).
	for _, p := range all {
		p.stop()
	}
	time.Sleep(2 * time.Second) // for the operator to see them closed
	bareRate := bareColdStart(urls, perGroup)
	fmt.Printf("the same cold start from bare net/http servers with the same bodies: %.0f req/s; peers API against bare: %.2f× the time (goal ≤ 1.5×)\n",
		bareRate, bareRate/operatorRate)
}

// bareColdStart is the cold start of scale against bare net/http servers
// answering each group's pods with the operator's own bodies: req/s.
func bareColdStart(urls []string, perGroup int) float64 {
	var servers []*bareServer
	for _, url := range urls {
		servers = append(servers, newBareServer(url, "mesh-", perGroup))
	}
	start := time.Now()
	var all []*pollers
	for _, b := range servers {
		all = append(all, launchPollers(b.URL, "mesh-", perGroup))
	}
	end := start
	for _, p := range all {
		p.waitParked()
		if p.coldDone.After(end) {
			end = p.coldDone
		}
		p.stop()
	}
	for _, b := range servers {
		b.Close()
	}
	return float64(len(urls)*perGroup) / end.Sub(start).Seconds()
}

// becomeReady creates a pod, then marks it Ready and returns when it did so:
// the change the peers API reacts to is that status write.
func becomeReady(c client.Client, pg *v1alpha1.PeerGroup, name string) time.Time {
	pod, err := testenv.ScheduledPod(ctx, c, replicaSetOf(c, pg), name)
	check(err)
	time.Sleep(time.Second) // the not-Ready pod changes no view, and is out of the way
	start := time.Now()
	check(testenv.MarkReady(ctx, c, pod, nextAddress()))
	return start
}

// report prints how many polls were answered and how fast; want > 0 also
// checks that every answer holds want peers.
func report(what string, got []answer, start time.Time, want int) (p99 time.Duration) {
	if len(got) == 0 {
		fmt.Printf("%s: no poll answered within the window\n", what)
		return 0
	}
	var times []time.Duration
	wrong := 0
	for _, a := range got {
		times = append(times, a.at.Sub(start))
		if want > 0 && a.peers != want {
			wrong++
		}
	}
	slices.Sort(times)
	fmt.Printf("%s: %d polls answered 200; after the change: first %s, p50 %s, p99 %s, last %s (from the status write)\n",
		what, len(got), times[0].Round(time.Microsecond), times[len(times)/2].Round(time.Microsecond),
		times[len(times)*99/100].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
	if wrong > 0 {
		fmt.Printf("FAILED: %d answers did not list %d peers\n", wrong, want)
	}
	return times[len(times)*99/100]
}

func published(c client.Client, pg *v1alpha1.PeerGroup) int {
	var got v1alpha1.PeerGroup
	check(c.Get(ctx, client.ObjectKeyFromObject(pg), &got))
	return int(got.Status.PublishedPeers)
}

// watches counts the WATCH requests the API server holds, by resource
// (from its metrics): the operator's informers, whatever the number of pods.
func watches(env *testenv.Env) map[string]int {
	cs, err := kubernetes.NewForConfig(env.Config)
	check(err)
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	check(err)
	out := map[string]int{}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "apiserver_longrunning_requests{") && strings.Contains(line, `verb="WATCH"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			_, resource, _ := strings.Cut(line, `resource="`)
			resource, _, _ = strings.Cut(resource, `"`)
			out[resource] += int(v)
		}
	}
	return out
}

// compareWatches prints the totals and every resource whose count changed.
func compareWatches(before, after map[string]int, what string) {
	total := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	var changed []string
	for _, r := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, int) bool) {
		for k, v := range before {
			yield(k, v)
		}
		for k, v := range after {
			yield(k, v)
		}
	}))) {
		if before[r] != after[r] {
			changed = append(changed, fmt.Sprintf("%s %d → %d", r, before[r], after[r]))
		}
	}
	fmt.Printf("watches held by the API server (all clients, its own included): %d with one group of 1,000 pods, %d %s; changed: %v\n",
		total(before), total(after), what, changed)
}

func cpuSeconds() float64 {
	b, _ := os.ReadFile("/proc/self/stat")
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return float64(utime+stime) / 100 // USER_HZ
}

func memory(c client.Client, groups int) {
	before := heap()
	fmt.Printf("creating %d groups of 10 ready pods…\n", groups)
	start := time.Now()
	inParallel(groups, func(i int) { createGroup(c, fmt.Sprintf("bench-%04d", i), "mesh", 10) })
	fmt.Printf("created in %s; waiting for every group to be Ready…\n", time.Since(start).Round(time.Second))
	waitFor(func() bool {
		var list v1alpha1.PeerGroupList
		check(c.List(ctx, &list))
		ready := 0
		for _, pg := range list.Items {
			if pg.Namespace == "bench-big" || strings.HasPrefix(pg.Namespace, "bench-scale-") { // hold pods more than asked since wakeUp and scale
				ready++
				continue
			}
			if pg.Status.ReadyReplicas == pg.DesiredReplicas() && len(pg.Status.Conditions) > 0 && pg.Status.Conditions[0].Status == "True" {
				ready++
			}
		}
		return ready == len(list.Items)
	})
	after := heap()
	fmt.Printf("operator with %d groups × 10 pods (+1 group of 1,000): heap in use %.1f MiB (%.1f MiB more than before these groups, %.1f KiB per 10-pod group), process RSS %.1f MiB\n",
		groups, float64(after)/(1<<20), float64(after-before)/(1<<20), float64(after-before)/float64(groups)/1024, rssMiB())
}

func createGroup(c client.Client, ns, name string, n int) *v1alpha1.PeerGroup {
	return createGroupWith(c, ns, name, n, 0)
}

func createGroupWith(c client.Client, ns, name string, n int, fanOut int32) *v1alpha1.PeerGroup {
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(min(n, 1000))), MaxPeersPerPod: fanOut,
			PingInterval: &metav1.Duration{Duration: 10 * time.Second}}}
	check(c.Create(ctx, pg))
	inParallel(n, func(i int) { addReadyPod(c, pg, fmt.Sprintf("mesh-%d", i)) })
	return pg
}

// inParallel runs f(0) … f(n-1), 16 at a time: envtest's API server takes
// creates faster that way, without being flooded.
func inParallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

var ipMu sync.Mutex
var nextIP int

// addReadyPod adds a Ready member pod: controlled by the ReplicaSet the
// operator created for pg.
func addReadyPod(c client.Client, pg *v1alpha1.PeerGroup, name string) {
	_, err := testenv.ReadyPod(ctx, c, replicaSetOf(c, pg), name, nextAddress())
	check(err)
}

// replicaSetOf waits for the ReplicaSet the operator creates for pg.
func replicaSetOf(c client.Client, pg *v1alpha1.PeerGroup) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{}
	key := client.ObjectKey{Namespace: pg.Namespace, Name: render.ReplicaSet(pg, testenv.RenderOptions).Name}
	waitFor(func() bool { return c.Get(ctx, key, rs) == nil })
	return rs
}

func nextAddress() string {
	ipMu.Lock()
	defer ipMu.Unlock()
	nextIP++
	return fmt.Sprintf("10.%d.%d.%d", 88+nextIP/65000, nextIP/250%250, nextIP%250+2)
}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2000}, Timeout: 2 * time.Minute}

func fetch(url, revision string) peers.Document {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if revision != "" {
		req.Header.Set("If-None-Match", `"`+revision+`"`)
	}
	resp, err := httpClient.Do(req)
	check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	check(err)
	if resp.StatusCode == http.StatusNotModified {
		return peers.Document{Revision: revision}
	}
	doc, err := peers.Decode(body)
	if resp.StatusCode != http.StatusOK || err != nil {
		return peers.Document{Revision: "failed"} // never a revision the API gives, so never taken for the one awaited
	}
	return doc
}

func waitFor(ok func() bool) {
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return
		}
	}
	check(fmt.Errorf("timed out"))
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func heapAndStacks() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func rssMiB() float64 {
	var kb int
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			break
		}
	}
	return float64(kb) / 1024
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(1)
	}
}
