package peersapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

var (
	env *testenv.Env
	ctx = context.Background()
)

// The handler reads a real API server here (the operator gives it its cache).
func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

type fixture struct {
	srv  *httptest.Server
	h    *peersapi.Handler
	pg   *v1alpha1.PeerGroup
	rs   *appsv1.ReplicaSet
	pods []*corev1.Pod
}

// newFixture creates namespace ns with a PeerGroup "mesh" of n ready pods.
func newFixture(t *testing.T, g Gomega, ns string, n int, fanOut int32) *fixture {
	c := env.Client
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: ns},
		Spec: v1alpha1.PeerGroupSpec{Replicas: ptr.To(int32(n)), MaxPeersPerPod: fanOut}}
	g.Expect(c.Create(ctx, pg)).To(Succeed())
	f := &fixture{h: &peersapi.Handler{Notifier: peersapi.NewNotifier(c)}, pg: pg}
	f.rs = render.ReplicaSet(pg, testenv.RenderOptions) // as the operator would create it
	g.Expect(c.Create(ctx, f.rs)).To(Succeed())
	for i := range n {
		pod, err := testenv.ReadyPod(ctx, c, f.rs, fmt.Sprintf("mesh-%d", i), fmt.Sprintf("10.88.0.%d", i+2))
		g.Expect(err).NotTo(HaveOccurred())
		f.pods = append(f.pods, pod)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(g Gomega, method, query, etag string) (*http.Response, string) {
	req, _ := http.NewRequest(method, f.srv.URL+peers.Path(f.pg.Namespace, f.pg.Name)+query, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestStatusCodes(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "codes", 3, 0)

	resp, body := f.get(g, "GET", "?self=mesh-0", "")
	g.Expect(resp.StatusCode).To(Equal(200))
	g.Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	doc, err := peers.Decode([]byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc.Group).To(Equal("codes/mesh"))
	g.Expect(doc.Peers).To(Equal([]peers.Peer{{Name: "mesh-1", Address: "10.88.0.3:8080", Node: testenv.NodeName},
		{Name: "mesh-2", Address: "10.88.0.4:8080", Node: testenv.NodeName}}), "itself left out")
	g.Expect(doc.PingInterval.Duration).To(Equal(time.Minute), "CRD default")
	g.Expect(resp.Header.Get("ETag")).To(Equal(`"` + doc.Revision + `"`))

	resp, body = f.get(g, "GET", "?self=mesh-0", `"`+doc.Revision+`"`)
	g.Expect(resp.StatusCode).To(Equal(304), body)

	resp, _ = f.get(g, "HEAD", "", "")
	g.Expect(resp.StatusCode).To(Equal(200))

	for _, tc := range []struct {
		method, url string
		status      int
		message     string
	}{
		{"GET", "/v1/namespaces/codes/peergroups/nope/peers", 404, "peergroup codes/nope not found"},
		{"GET", "/v1/namespaces/codes/peergroups/mesh", 404, "no such endpoint"},
		{"GET", "/v1/namespaces/codes/peergroups/mesh/peers?wait=forever", 400, `invalid wait="forever"`},
		{"GET", "/v1/namespaces/BAD/peergroups/mesh/peers", 400, `invalid namespace "BAD"`},
		{"PUT", "/v1/namespaces/codes/peergroups/mesh/peers", 405, "method PUT not allowed"},
	} {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.url, nil)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		var e peers.Error
		g.Expect(json.NewDecoder(resp.Body).Decode(&e)).To(Succeed(), "%s %s: error body is JSON", tc.method, tc.url)
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(tc.status), tc.url)
		g.Expect(e.Error).To(ContainSubstring(tc.message))
		if tc.status == 405 {
			g.Expect(resp.Header.Get("Allow")).To(Equal("GET, HEAD"))
		}
	}
}

func TestFanOutGivesEachPodKPeers(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "fanout", 6, 2)
	for _, p := range f.pods {
		_, body := f.get(g, "GET", "?self="+p.Name, "")
		doc, err := peers.Decode([]byte(body))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(doc.Peers).To(HaveLen(2))
		g.Expect(doc.Peers).NotTo(ContainElement(HaveField("Name", p.Name)))
	}
}

// A long-poll holds until the group changes, then answers at once; with no
// change it answers 304 when the wait ends.
func TestLongPoll(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "longpoll", 3, 0)
	_, body := f.get(g, "GET", "?self=mesh-0", "")
	doc, _ := peers.Decode([]byte(body))

	start := time.Now()
	resp, _ := f.get(g, "GET", "?self=mesh-0&wait=1s", `"`+doc.Revision+`"`)
	g.Expect(resp.StatusCode).To(Equal(304))
	g.Expect(time.Since(start)).To(BeNumerically(">=", time.Second), "held for the wait")

	type answer struct {
		status int
		body   string
		at     time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		resp, body := f.get(g, "GET", "?self=mesh-0&wait=30s", `"`+doc.Revision+`"`)
		answered <- answer{resp.StatusCode, body, time.Now()}
	}()
	g.Consistently(answered).WithTimeout(300 * time.Millisecond).ShouldNot(Receive())

	g.Expect(env.Client.Delete(ctx, f.pods[2])).To(Succeed())
	changed := time.Now()
	f.h.Notifier.Notify(client.ObjectKeyFromObject(f.pg)) // the informer does this in the operator
	var a answer
	g.Eventually(answered).WithTimeout(2 * time.Second).Should(Receive(&a))
	g.Expect(a.status).To(Equal(200))
	next, err := peers.Decode([]byte(a.body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(next.Peers).To(Equal([]peers.Peer{{Name: "mesh-1", Address: "10.88.0.3:8080", Node: testenv.NodeName}}))
	g.Expect(next.Revision).NotTo(Equal(doc.Revision))
	t.Logf("long-poll answered %s after the change", a.at.Sub(changed))
}

// With a fan-out, a change wakes only the long-polls whose own view
// changed: a pod leaving answers its k ring predecessors (and nobody else),
// and a write that changes no view (a status update) answers nobody.
func TestOnlyChangedViewsAreWoken(t *testing.T) {
	g := NewWithT(t)
	const k = 2
	f := newFixture(t, g, "wake", 8, k)
	key := client.ObjectKeyFromObject(f.pg)
	views := map[string]peers.Document{}
	answered := make(chan string, len(f.pods))
	for _, p := range f.pods {
		resp, body := f.get(g, "GET", "?self="+p.Name, "")
		doc, err := peers.Decode([]byte(body))
		g.Expect(err).NotTo(HaveOccurred())
		views[p.Name] = doc
		go func() {
			resp, _ := f.get(g, "GET", "?self="+p.Name+"&wait=4s", resp.Header.Get("ETag"))
			if resp.StatusCode == http.StatusOK {
				answered <- p.Name
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // all parked

	pg := f.pg.DeepCopy()
	pg.Status.ObservedGeneration = 42
	g.Expect(env.Client.Status().Update(ctx, pg)).To(Succeed())
	f.h.Notifier.Notify(key)
	g.Consistently(answered).WithTimeout(500*time.Millisecond).ShouldNot(Receive(), "a status write wakes nobody")

	leaving := f.pods[5].Name
	var want []string
	for name, doc := range views {
		if slices.ContainsFunc(doc.Peers, func(p peers.Peer) bool { return p.Name == leaving }) {
			want = append(want, name)
		}
	}
	g.Expect(want).To(HaveLen(k))
	g.Expect(env.Client.Delete(ctx, f.pods[5])).To(Succeed())
	f.h.Notifier.Notify(key)
	var got []string
	for range k {
		var name string
		g.Eventually(answered).WithTimeout(2 * time.Second).Should(Receive(&name))
		got = append(got, name)
	}
	g.Expect(got).To(ConsistOf(want))
	g.Consistently(answered).WithTimeout(500*time.Millisecond).ShouldNot(Receive(), "nobody else")
}

// A large document is gzipped for a client that accepts it (Go's does by
// default, and undoes it), and sent plain to one that does not.
func TestLargeDocumentsAreGzipped(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "gzip", 80, 0)
	resp, body := f.get(g, "GET", "", "")
	g.Expect(resp.Uncompressed).To(BeTrue(), "sent gzipped, undone by the transport")
	doc, err := peers.Decode([]byte(body))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc.Peers).To(HaveLen(80))

	req, _ := http.NewRequest("GET", f.srv.URL+peers.Path(f.pg.Namespace, f.pg.Name), nil)
	req.Header.Set("Accept-Encoding", "identity")
	plain, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer plain.Body.Close()
	g.Expect(plain.Header.Get("Content-Encoding")).To(BeEmpty())
	g.Expect(plain.ContentLength).To(BeNumerically(">", len(body)/2), "the whole document")
	t.Logf("%d peers: %d bytes plain", len(doc.Peers), plain.ContentLength)
}
