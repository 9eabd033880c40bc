package controller_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// fakeLinks is a group's servers as far as /links goes: a real HTTP server
// per pod on its own loopback address, answering what the test says.
type fakeLinks struct {
	mu     sync.Mutex
	pods   []string
	addrs  map[string]string
	down   map[[2]string]bool // pinger → target
	lossy  map[[2]string]bool // retransmits 5 of its 25 segments
	silent map[string]bool    // answers 503: unreported
}

func (f *fakeLinks) serve(t *testing.T, pod, ip string, port int) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.silent[pod] {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		doc := peers.Links{Pod: pod, Window: peers.LinkWindow}
		for _, q := range f.pods {
			if q == pod {
				continue
			}
			l := peers.Link{Peer: q, Address: f.addrs[q], State: peers.LinkUp, Since: time.Unix(1764410000, 0), Pings: 20,
				RTTP50: peers.Duration{Duration: time.Millisecond}, RTTP99: peers.Duration{Duration: 2 * time.Millisecond},
				Segments: 20, RTTBuckets: make([]int, len(peers.RTTBucketBounds)+1)}
			l.RTTBuckets[peers.RTTBucket(1500*time.Microsecond)] = 20
			if f.lossy[[2]string{pod, q}] {
				l.Segments, l.Retransmits = 25, 5
			}
			if f.down[[2]string{pod, q}] {
				l.State, l.ConsecutiveFailures, l.RTTP50, l.RTTP99, l.RTTBuckets = peers.LinkDown, 3, peers.Duration{}, peers.Duration{}, nil
			}
			doc.Links = append(doc.Links, l)
		}
		json.NewEncoder(w).Encode(doc)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// newFakeLinksGroup is a 1 s group of four Ready pods mesh-0…3, two on
// node-a and two on node-b, each a fake /links server on 127.0.0.<first+i>.
func newFakeLinksGroup(t *testing.T, g Gomega, first int) (*v1alpha1.PeerGroup, *fakeLinks) {
	port := freePort(t)
	pg := newGroup(g, namespace(t), "mesh", 4, func(pg *v1alpha1.PeerGroup) {
		pg.Spec.Port = int32(port)
		pg.Spec.PingInterval = &metav1.Duration{Duration: time.Second}
		pg.Spec.PingTimeout = &metav1.Duration{Duration: 500 * time.Millisecond}
	})
	rs := currentReplicaSet(g, pg)
	f := &fakeLinks{addrs: map[string]string{}, down: map[[2]string]bool{}, lossy: map[[2]string]bool{}, silent: map[string]bool{}}
	for i, node := range []string{"node-a", "node-a", "node-b", "node-b"} {
		name, ip := fmt.Sprintf("mesh-%d", i), fmt.Sprintf("127.0.0.%d", first+i)
		f.pods, f.addrs[name] = append(f.pods, name), net.JoinHostPort(ip, strconv.Itoa(port))
		f.serve(t, name, ip, port)
		pod, err := testenv.ScheduledPodOn(ctx, k8s, rs, name, node)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(testenv.MarkReady(ctx, k8s, pod, ip)).To(Succeed())
	}
	return pg, f
}

func (f *fakeLinks) update(change func(*fakeLinks)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func linksCondition(g Gomega, pg *v1alpha1.PeerGroup) *metav1.Condition {
	got := getGroup(g, pg)
	for i, c := range got.Status.Conditions {
		if c.Type == health.LinksHealthyCondition {
			return &got.Status.Conditions[i]
		}
	}
	return &metav1.Condition{}
}

// The operator collects every pod's /links once per interval and writes
// what it means: LinksHealthy, status.links, status.suspects (a pod, then a
// whole node), LinkDown and LinksRecovered events, and nothing at all while
// the mesh is steady.
func TestLinkHealthFromReports(t *testing.T) {
	g := NewWithT(t)
	pg, f := newFakeLinksGroup(t, g, 20)

	// All up (once the pods have been Ready for an interval). The status and
	// its conditions are two writes: wait for both.
	g.Eventually(func() string {
		got := getGroup(g, pg)
		return fmt.Sprint(linksCondition(g, pg).Reason, " ", got.Status.Links != nil && got.Status.Links.Summary == "12/12")
	}).WithTimeout(10 * time.Second).Should(Equal(health.ReasonAllLinksUp + " true"))
	got := getGroup(g, pg)
	g.Expect(got.Status.Links.P99).To(Equal("2ms"))
	g.Expect(got.Status.Suspects).To(BeEmpty())

	// Steady: no write across several rounds.
	rv := got.ResourceVersion
	time.Sleep(3500 * time.Millisecond)
	g.Expect(getGroup(g, pg).ResourceVersion).To(Equal(rv), "a steady mesh wrote its status")

	// mesh-3 unreachable from everyone: it is the suspect, with a LinkDown event.
	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1", "mesh-2"} {
			f.down[[2]string{p, "mesh-3"}] = true
		}
	})
	g.Eventually(func() []v1alpha1.Suspect { return getGroup(g, pg).Status.Suspects }).WithTimeout(5 * time.Second).Should(ConsistOf(
		And(HaveField("Kind", "Pod"), HaveField("Name", "mesh-3"), HaveField("Node", "node-b"), HaveField("Reason", "Unreachable"), HaveField("ReportedBy", "3/3"))))
	c := linksCondition(g, pg)
	g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(c.Message).To(ContainSubstring("pod mesh-3 on node node-b unreachable (3/3 links down)"))
	g.Expect(readyCondition(g, pg).Status).To(Equal(metav1.ConditionTrue), "a network fault is not a reconcile failure")
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("LinkDown"))

	// node-b's data plane goes: its pods are cut off and cannot report.
	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1"} {
			for _, q := range []string{"mesh-2", "mesh-3"} {
				f.down[[2]string{p, q}] = true
			}
		}
		f.silent["mesh-2"], f.silent["mesh-3"] = true, true
	})
	g.Eventually(func() []v1alpha1.Suspect { return getGroup(g, pg).Status.Suspects }).WithTimeout(5 * time.Second).Should(ConsistOf(
		And(HaveField("Kind", "Node"), HaveField("Name", "node-b"), HaveField("ReportedBy", "4/4"))))
	got = getGroup(g, pg)
	g.Expect(got.Status.Links.UnreportedPods).To(Equal(int32(2)))
	g.Expect(got.Status.Links.Summary).To(Equal("2/12"))
	// The operator's metrics say the same, per group.
	g.Expect(gauge(g, "peering_group_suspects", pg, "kind", "Node", "severity", "Down")).To(Equal(1.0))
	g.Expect(gauge(g, "peering_group_links", pg, "state", "down")).To(Equal(4.0))
	g.Expect(gauge(g, "peering_group_link_rtt_seconds", pg, "quantile", "0.99")).To(Equal(0.002))
	g.Expect(gauge(g, "peering_group_suspect_info", pg, "kind", "Node", "name", "node-b", "severity", "Down")).To(Equal(1.0))
	g.Eventually(func(g Gomega) float64 {
		return conditionGauge(g, pg, health.LinksHealthyCondition, "False")
	}).Should(Equal(1.0), "the LinksHealthy condition's series")

	// Repaired: True again, and the suspect's recovery is an event.
	f.update(func(f *fakeLinks) { f.down, f.silent = map[[2]string]bool{}, map[string]bool{} })
	g.Eventually(func() string { return linksCondition(g, pg).Reason }).WithTimeout(5 * time.Second).Should(Equal(health.ReasonAllLinksUp))
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("LinksRecovered"))
	g.Eventually(func() []v1alpha1.Suspect { return getGroup(g, pg).Status.Suspects }).Should(BeEmpty())

	// mesh-3 loses 20% of what it sends and receives: every ping still
	// succeeds, TCP retransmits. After two rounds the pod is Degraded
	// (LinkDegraded), its 6 links lossy; not Ready's business either.
	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1", "mesh-2"} {
			f.lossy[[2]string{p, "mesh-3"}], f.lossy[[2]string{"mesh-3", p}] = true, true
		}
	})
	g.Eventually(func() []v1alpha1.Suspect { return getGroup(g, pg).Status.Suspects }).WithTimeout(10 * time.Second).Should(ConsistOf(
		And(HaveField("Kind", "Pod"), HaveField("Name", "mesh-3"), HaveField("Severity", "Degraded"),
			HaveField("Reason", "CannotReach,Unreachable"), HaveField("Loss", "20.0% of 150 segments"))))
	got = getGroup(g, pg)
	g.Expect(got.Status.Links.Summary).To(Equal("12/12 (6 lossy)"))
	g.Expect(got.Status.Links.Suspect).To(Equal("Pod/mesh-3"))
	c = linksCondition(g, pg)
	g.Expect(c.Reason).To(Equal(health.ReasonLinksLossy))
	g.Expect(c.Message).To(ContainSubstring("pod mesh-3 on node node-b lossy both ways (20.0% of 150 segments retransmitted)"))
	g.Eventually(eventReasons(g, pg)).Should(ContainElement("LinkDegraded"))
	g.Expect(gauge(g, "peering_group_links", pg, "state", "degraded")).To(Equal(6.0))
	f.update(func(f *fakeLinks) { f.lossy = map[[2]string]bool{} })
	g.Eventually(func() []v1alpha1.Suspect { return getGroup(g, pg).Status.Suspects }).WithTimeout(10 * time.Second).Should(BeEmpty())
}

// A /links answer that is garbage, huge or slow is refused (the pod is
// unreported) and costs a bounded read.
func TestBadLinksAnswersAreRefused(t *testing.T) {
	g := NewWithT(t)
	c := health.NewCollector(k8s)
	for name, h := range map[string]http.HandlerFunc{
		"garbage": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hi</html>")) },
		"huge": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"pod":"a","window":20,"links":[`))
			for range peers.MaxLinksBytes / 10 {
				w.Write([]byte(`          `))
			}
		},
		"slow":    func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Second) },
		"invalid": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"pod":"a","window":0,"links":[]}`)) },
		"error":   func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) },
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		g.Expect(err).NotTo(HaveOccurred())
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		start := time.Now()
		_, err = c.Fetch(ctx, ln.Addr().String(), 500*time.Millisecond, nil)
		g.Expect(err).To(HaveOccurred(), name)
		g.Expect(time.Since(start)).To(BeNumerically("<", 2*time.Second), "%s: the timeout holds", name)
		srv.Close()
	}
}

// gauge reads one series of the operator's registry (it runs in this process).
func gauge(g Gomega, name string, pg *v1alpha1.PeerGroup, pairs ...string) float64 {
	v, ok := seriesValue(g, ctrlmetrics.Registry, name, append([]string{"namespace", pg.Namespace, "peergroup", pg.Name}, pairs...)...)
	if !ok {
		return -1
	}
	return v
}

// seriesValue is the gauge value of the first series of family name in
// gatherer whose labels hold every name, value pair given.
func seriesValue(g Gomega, gatherer prometheus.Gatherer, name string, pairs ...string) (float64, bool) {
	families, err := gatherer.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(pairs); i += 2 {
				match = match && labels[pairs[i]] == pairs[i+1]
			}
			if match {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A terminating pod counts for nothing: its links going down (it stops
// answering) raise no suspect, no event, and leave the mesh healthy.
func TestATerminatingPodRaisesNothing(t *testing.T) {
	g := NewWithT(t)
	pg, f := newFakeLinksGroup(t, g, 50)
	g.Eventually(func() string { return linksCondition(g, pg).Reason }).WithTimeout(10 * time.Second).Should(Equal(health.ReasonAllLinksUp))

	pod := &corev1.Pod{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: pg.Namespace, Name: "mesh-3"}, pod)).To(Succeed())
	pod.Finalizers = append(pod.Finalizers, "test.simulated-peering.io/hold")
	g.Expect(k8s.Update(ctx, pod)).To(Succeed())
	t.Cleanup(func() {
		k8s.Patch(ctx, pod, client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`)))
	})
	g.Expect(k8s.Delete(ctx, pod)).To(Succeed())
	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1", "mesh-2"} {
			f.down[[2]string{p, "mesh-3"}] = true
		}
		f.silent["mesh-3"] = true
	})

	g.Eventually(func() string { return getGroup(g, pg).Status.Links.Summary }).WithTimeout(10*time.Second).Should(Equal("6/6"), "three pods count")
	g.Consistently(func(g Gomega) {
		got := getGroup(g, pg)
		g.Expect(got.Status.Suspects).To(BeEmpty())
		g.Expect(linksCondition(g, pg).Reason).To(Equal(health.ReasonAllLinksUp))
	}).WithTimeout(3 * time.Second).Should(Succeed())
	g.Expect(eventReasons(g, pg)()).NotTo(ContainElement("LinkDown"))
}

// conditionGauge reads the gotk_reconcile_condition series of one of the
// group's conditions (Flux's names: the group is its "name"); 0 when none.
func conditionGauge(g Gomega, pg *v1alpha1.PeerGroup, condition, status string) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(env.Recorder.Collectors()...)
	v, _ := seriesValue(g, reg, "gotk_reconcile_condition",
		"kind", "PeerGroup", "namespace", pg.Namespace, "name", pg.Name, "type", condition, "status", status)
	return v
}
