package health_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// The collector's tests run against a real kube-apiserver without the
// operator, so the only rounds are the test's own collector's. It starts
// with the first of them: the package's pure tests, benchmarks and fuzzers
// need none.
var (
	k8s      client.Client
	env      *testenv.Env
	envErr   error
	startEnv sync.Once
)

func apiServer(t *testing.T) {
	startEnv.Do(func() {
		if env, envErr = testenv.Start(false); envErr == nil {
			k8s = env.Client
		}
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}

// slowLinks is a group's /links servers that answer only after delay (or
// never, while delay is negative), counting the requests.
type slowLinks struct {
	delay    time.Duration
	requests atomic.Int32
	started  chan struct{} // closed at the first request
	once     sync.Once
}

// newSlowGroup makes a group of n pods, Ready long ago on 127.0.1.x, each
// with a /links server that answers as links says.
func newSlowGroup(t *testing.T, g Gomega, n int, interval time.Duration, links *slowLinks) *v1alpha1.PeerGroup {
	apiServer(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "collector-"}}
	g.Expect(k8s.Create(ctx, ns)).To(Succeed())
	ln, err := net.Listen("tcp", "127.0.1.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pg := &v1alpha1.PeerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns.Name},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(n)), Port: int32(port),
			PingInterval: &metav1.Duration{Duration: interval}, PingTimeout: &metav1.Duration{Duration: interval / 4}},
	}
	g.Expect(k8s.Create(ctx, pg)).To(Succeed())
	rs := render.ReplicaSet(pg, testenv.RenderOptions)
	g.Expect(k8s.Create(ctx, rs)).To(Succeed())
	links.started = make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		links.requests.Add(1)
		links.once.Do(func() { close(links.started) })
		if links.delay < 0 {
			<-r.Context().Done()
			return
		}
		time.Sleep(links.delay)
		fmt.Fprint(w, `{"pod":"mesh","window":20,"links":[]}`)
	})
	for i := range n {
		ip := "127.0.1." + strconv.Itoa(i+1)
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		g.Expect(err).NotTo(HaveOccurred())
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		pod, err := testenv.ScheduledPodOn(ctx, k8s, rs, fmt.Sprintf("mesh-%d", i), "node-a")
		g.Expect(err).NotTo(HaveOccurred())
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}}
		g.Expect(k8s.Status().Update(ctx, pod)).To(Succeed())
	}
	return pg
}

// errorCount is a logr sink that counts Error lines and keeps them.
type errorCount struct {
	mu    sync.Mutex
	lines []string
}

func (e *errorCount) Init(logr.RuntimeInfo)                  {}
func (e *errorCount) Enabled(level int) bool                 { return level == 0 }
func (e *errorCount) Info(int, string, ...any)               {}
func (e *errorCount) WithValues(...any) logr.LogSink         { return e }
func (e *errorCount) WithName(string) logr.LogSink           { return e }
func (e *errorCount) Error(err error, msg string, kv ...any) { e.add(fmt.Sprint(msg, ": ", err, kv)) }
func (e *errorCount) add(line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, line)
}

func (e *errorCount) errors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

// run starts a collector reading the API directly; stop cancels it and
// waits for it to return.
func run(ctx context.Context) (c *health.Collector, stop func()) {
	c = health.NewCollector(k8s)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Start(ctx); close(done) }()
	return c, func() { cancel(); <-done }
}

// Stopping (a shutdown, or losing the lease) with rounds in flight is
// routine: no ERROR line. Before, every round waiting for a fetch slot
// logged "collecting links: context canceled".
func TestStoppingMidRoundLogsNoError(t *testing.T) {
	g := NewWithT(t)
	links := &slowLinks{delay: -1}
	newSlowGroup(t, g, health.MaxFetchesPerRound+8, 10*time.Second, links)
	sink := &errorCount{}
	_, stop := run(logf.IntoContext(context.Background(), logr.New(sink)))
	g.Eventually(links.started).WithTimeout(10 * time.Second).Should(BeClosed())
	stop()
	g.Expect(sink.errors()).To(BeEmpty())
}

// A round ends at its deadline (half the interval) even when every pod
// times out: the pods not heard from are unreported, and the round does
// not wait for every fetch slot in turn (300 pods of a dead node stretched
// each round to 38 s).
func TestARoundEndsAtItsDeadline(t *testing.T) {
	g := NewWithT(t)
	links := &slowLinks{delay: -1}
	n := 3 * health.MaxFetchesPerRound
	pg := newSlowGroup(t, g, n, 2*time.Second, links)
	c, stop := run(context.Background())
	defer stop()
	var r health.Result
	g.Eventually(func() (ok bool) {
		r, ok = c.Latest(client.ObjectKeyFromObject(pg))
		return ok
	}).WithTimeout(10 * time.Second).Should(BeTrue())
	g.Expect(r.Links.UnreportedPods).To(BeNumerically("==", n))
	// One slot's worth of fetches fits in the deadline, not three.
	g.Expect(links.requests.Load()).To(BeNumerically("<", 2*health.MaxFetchesPerRound))
}

// A group deleted while its round is in flight leaves no state and no
// peering_group_* series once the round ends: before, the round wrote
// them after the group was forgotten, and they stayed forever.
func TestADeletedGroupLeavesNoSeries(t *testing.T) {
	g := NewWithT(t)
	links := &slowLinks{delay: 1500 * time.Millisecond}
	pg := newSlowGroup(t, g, 3, 10*time.Second, links)
	key := client.ObjectKeyFromObject(pg)
	c, stop := run(context.Background())
	defer stop()
	g.Eventually(links.started).WithTimeout(10 * time.Second).Should(BeClosed())
	g.Expect(k8s.Delete(context.Background(), pg)).To(Succeed())
	time.Sleep(3 * time.Second) // the collector forgets it within a second; the round ends at 1.5 s
	_, ok := c.Latest(key)
	g.Expect(ok).To(BeFalse(), "the deleted group's summary is kept")
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				g.Expect(l.GetName() == "namespace" && l.GetValue() == key.Namespace).To(BeFalse(),
					"series %s of the deleted group %s", f.GetName(), key)
			}
		}
	}
}
