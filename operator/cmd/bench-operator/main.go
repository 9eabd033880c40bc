// Command bench-operator measures the operator in-process against envtest
// and prints figures (no pass/fail):
//
//  1. peers API requests/s and p99 with 1,000 concurrent clients on one group
//     of 1,000 Ready pods, served from the informer cache;
//  2. the time from one more pod becoming Ready to all 1,000 long-polling
//     clients holding the new document;
//  3. the operator's heap with 1,000 PeerGroups of 10 Ready pods each.
//
// Usage: make bench-operator   (needs bin/kube-apiserver and bin/etcd)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	flag.Parse()
	env, err := testenv.Start(true)
	check(err)
	defer env.Stop()
	c := env.Client

	fmt.Printf("creating a group of %d ready pods…\n", *pods)
	big := createGroup(c, "bench-big", "mesh", *pods)
	url := env.PeersURL + peers.Path(big.Namespace, big.Name)
	waitFor(func() bool { return len(fetch(url+"?self=mesh-0", "").Peers) == *pods-1 })

	throughput(url, *pods, *duration)
	wakeUp(c, big, url, *pods)
	unrelated(c, *unrelatedRS)
	memory(c, *groups)
}

// unrelated: memory before and after n ReplicaSets that are not the
// operator's appear in the cluster. Its caches select the managed-by label,
// so they should not grow.
func unrelated(c client.Client, n int) {
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-unrelated"}}))
	heapBefore, rssBefore := heap(), rssMiB()
	fmt.Printf("creating %d unrelated ReplicaSets…\n", n)
	labels := map[string]string{"app": "unrelated"}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			check(c.Create(ctx, &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%05d", i), Namespace: "bench-unrelated", Labels: labels},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}},
			}))
		}()
	}
	wg.Wait()
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

// wakeUp: all clients long-poll the current revision; one more pod becomes
// Ready; measure until each has received the new document.
func wakeUp(c client.Client, pg *v1alpha1.PeerGroup, url string, clients int) {
	current := fetch(url+"?self=mesh-0", "")
	idle := heapAndStacks()
	type answer struct {
		at time.Time
		ok bool
	}
	done := make(chan answer, clients)
	var started sync.WaitGroup
	for i := range clients {
		started.Add(1)
		go func() {
			started.Done()
			for {
				doc := fetch(fmt.Sprintf("%s?self=mesh-%d&wait=60s", url, i), current.Revision)
				if doc.Revision != current.Revision {
					// The awaited answer lists every other pod, the new one included.
					done <- answer{time.Now(), len(doc.Peers) == clients}
					return
				}
			}
		}()
	}
	started.Wait()
	time.Sleep(2 * time.Second) // every request is parked in the handler
	parked := float64(heapAndStacks()) - float64(idle)
	fmt.Printf("%d parked long-polls: heap and goroutine stacks %+.1f MiB, %.1f KiB per poll (an upper bound: the clients run in this process too)\n",
		clients, parked/(1<<20), parked/float64(clients)/1024)
	start := time.Now()
	addReadyPod(c, pg, fmt.Sprintf("mesh-%d", clients))
	var times []time.Duration
	failed := 0
	for range clients {
		a := <-done
		if !a.ok {
			failed++
			continue
		}
		times = append(times, a.at.Sub(start))
	}
	if len(times) == 0 {
		check(fmt.Errorf("all %d long-polls failed", clients))
	}
	if failed > 0 {
		fmt.Printf("FAILED: %d of %d long-polls got an error or a wrong document (not counted below)\n", failed, clients)
	}
	slices.Sort(times)
	fmt.Printf("pod Ready → new document at %d long-polling clients: first %s, median %s, p99 %s, all %s (includes the pod status write)\n",
		clients, times[0].Round(time.Microsecond), times[len(times)/2].Round(time.Microsecond),
		times[len(times)*99/100].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
}

func memory(c client.Client, groups int) {
	before := heap()
	fmt.Printf("creating %d groups of 10 ready pods…\n", groups)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			createGroup(c, fmt.Sprintf("bench-%04d", i), "mesh", 10)
		}()
	}
	wg.Wait()
	fmt.Printf("created in %s; waiting for every group to be Ready…\n", time.Since(start).Round(time.Second))
	waitFor(func() bool {
		var list v1alpha1.PeerGroupList
		check(c.List(ctx, &list))
		ready := 0
		for _, pg := range list.Items {
			if pg.Namespace == "bench-big" { // holds one pod more than asked since wakeUp
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
	fmt.Printf("operator with %d groups × 10 pods (+1 group of 1,000): heap in use %.1f MiB (%.1f MiB more than with the one big group), process RSS %.1f MiB\n",
		groups, float64(after)/(1<<20), float64(after-before)/(1<<20), rssMiB())
}

func createGroup(c client.Client, ns, name string, n int) *v1alpha1.PeerGroup {
	check(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(n)), PingInterval: &metav1.Duration{Duration: 10 * time.Second}}}
	check(c.Create(ctx, pg))
	for i := range n {
		addReadyPod(c, pg, fmt.Sprintf("mesh-%d", i))
	}
	return pg
}

var ipMu sync.Mutex
var nextIP int

// addReadyPod adds a Ready member pod: controlled by the ReplicaSet the
// operator created for pg.
func addReadyPod(c client.Client, pg *v1alpha1.PeerGroup, name string) {
	rs := &appsv1.ReplicaSet{}
	key := client.ObjectKey{Namespace: pg.Namespace, Name: render.ReplicaSet(pg, testenv.RenderOptions).Name}
	waitFor(func() bool { return c.Get(ctx, key, rs) == nil })
	ipMu.Lock()
	nextIP++
	ip := fmt.Sprintf("10.%d.%d.%d", 88+nextIP/65000, nextIP/250%250, nextIP%250+2)
	ipMu.Unlock()
	_, err := testenv.ReadyPod(ctx, c, rs, name, ip)
	check(err)
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
