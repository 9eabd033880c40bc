package app

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/server/internal/config"
	"github.com/simulated-peering/simulated-peering/server/internal/mesh"
)

func pongPrefix(name string) string { return "pong from " + name + " " }

func metricsText(g Gomega, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A change to the document reaches the running server within a second (the
// long-poll wakes up), peers are added and removed in place, the loop of an
// unchanged peer keeps running, and nothing restarts.
func TestPeersURLChangesAreAppliedInPlace(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1, p2, p3 := startPeer(t, "p1"), startPeer(t, "p2"), startPeer(t, "p3")
	ep := newEndpoint(t, document("r1", 2*time.Second, p1, p2))
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/v1/namespaces/test/peergroups/mesh/peers"}, nil)

	g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(4 * time.Second).Should(BeNumerically(">=", 1))
	g.Eventually(func() int { return s.log.count(pongPrefix("p2")) }).WithTimeout(4 * time.Second).Should(BeNumerically(">=", 1))
	resp, err := http.Get("http://" + s.addr + "/readyz")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	ep.update(func(e *endpoint) { e.doc = document("r2", time.Second, p1, p3) })
	changedAt := time.Now()
	g.Eventually(func() int { return s.log.count("now pinging p3 ") }).WithTimeout(time.Second).Should(Equal(1), "p3 added within 1s")
	g.Eventually(func() int { return s.log.count("stopped pinging p2 ") }).WithTimeout(time.Second).Should(Equal(1), "p2 removed within 1s")
	t.Logf("change applied %s after the document changed", time.Since(changedAt))

	g.Eventually(func() int { return s.log.count(pongPrefix("p3")) }).WithTimeout(4 * time.Second).Should(BeNumerically(">=", 2))
	p2Pongs := s.log.count(pongPrefix("p2"))
	p1Pongs := s.log.count(pongPrefix("p1"))
	time.Sleep(3500 * time.Millisecond)
	g.Expect(s.log.count(pongPrefix("p2"))).To(Equal(p2Pongs), "p2 still pinged after removal")
	g.Expect(s.log.count(pongPrefix("p1"))).To(BeNumerically(">=", p1Pongs+3), "p1 not pinged at the new 1s interval (was 2s)")
	g.Expect(s.log.count("now pinging p1 ")).To(Equal(1), "p1's loop was restarted")
	g.Expect(s.log.count("stopped pinging p1 ")).To(BeZero())

	m := metricsText(g, s.addr)
	g.Expect(m).To(ContainSubstring("peering_peers 2\n"))
	g.Expect(m).To(ContainSubstring(`peering_config_revision_info{revision="r2"} 1`))
	g.Expect(m).To(ContainSubstring(`peering_pings_total{outcome="ok",peer="p3"}`))
	g.Expect(m).NotTo(ContainSubstring(`peer="p2"`), "removed peer's series are dropped")
	g.Expect(m).To(ContainSubstring("peering_ping_rtt_seconds_bucket{peer=\"p1\""))
	g.Expect(m).To(ContainSubstring("peering_config_last_success_timestamp_seconds "))
}

// Garbage, errors and a dead endpoint leave the last good set pinging; each
// distinct failure is logged once; the next good document is applied.
func TestEndpointFailuresKeepTheLastGoodSet(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1, p2 := startPeer(t, "p1"), startPeer(t, "p2")
	ep := newEndpoint(t, document("r1", time.Second, p1))
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/peers"}, nil)
	g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(3 * time.Second).Should(BeNumerically(">=", 1))

	stillPinging := func(why string) {
		before := s.log.count(pongPrefix("p1"))
		g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(3500*time.Millisecond).
			Should(BeNumerically(">=", before+2), "pinging stopped while the endpoint %s", why)
	}
	failures := func() int { return s.log.count("peers endpoint failed") }

	ep.update(func(e *endpoint) { e.mode = "garbage" })
	g.Eventually(failures).WithTimeout(time.Second).Should(Equal(1))
	requests := ep.requestCount()
	g.Eventually(ep.requestCount).WithTimeout(5*time.Second).Should(BeNumerically(">=", requests+2), "no retry with backoff")
	g.Expect(failures()).To(Equal(1), "the same failure was logged more than once")
	stillPinging("answers garbage")

	outages := func() int { return s.log.count("peers endpoint unreachable;") }
	ep.update(func(e *endpoint) { e.mode = "error" })
	g.Eventually(outages).WithTimeout(10 * time.Second).Should(Equal(1))
	stillPinging("answers 502")

	addr := ep.Listener.Addr().String()
	ep.Listener.Close() // down: connection refused
	ep.CloseClientConnections()
	g.Eventually(outages).WithTimeout(20 * time.Second).Should(Equal(2))
	stillPinging("is down")
	g.Expect(failures()).To(Equal(1), "an outage was logged as a failed answer")
	g.Expect(s.log.errors()).To(Equal(1), "only the garbage answer is an ERROR:\n%s", strings.Join(s.log.messages(), "\n"))
	g.Expect(s.log.count("stopped pinging")).To(BeZero())
	g.Expect(strings.Join(s.log.messages(), "\n")).NotTo(ContainSubstring("pong from p2"))

	// Back on the same address with a new document: it is applied once the
	// backoff (up to 30s +25%) lets the poller try again.
	ep.update(func(e *endpoint) { e.mode, e.doc = "ok", document("r2", time.Second, p1, p2) })
	ln, err := net.Listen("tcp", addr)
	g.Expect(err).NotTo(HaveOccurred())
	back := &http.Server{Handler: http.HandlerFunc(ep.serve)}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	g.Eventually(func() int { return s.log.count("peers endpoint answering again") }).WithTimeout(60 * time.Second).Should(Equal(1))
	g.Eventually(func() int { return s.log.count(pongPrefix("p2")) }).WithTimeout(3 * time.Second).Should(BeNumerically(">=", 1))
	g.Expect(s.log.count("now pinging p1 ")).To(Equal(1), "p1's loop was restarted")
}

// An endpoint that refuses connections (an operator restart with no ready
// replica) is a WARN with its backoff; only an outage longer than
// PEERS_OUTAGE_ERROR_AFTER becomes one ERROR line, and the recovery says
// how long it lasted.
func TestAnOutageIsAWarningUntilItLasts(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1 := startPeer(t, "p1")
	ep := newEndpoint(t, document("r1", time.Second, p1))
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/peers", OutageError: 4 * time.Second}, nil)
	g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(3 * time.Second).Should(BeNumerically(">=", 1))

	addr := ep.Listener.Addr().String()
	ep.Listener.Close() // first: a poll the transport retries must be refused, not held 30s
	ep.CloseClientConnections()
	g.Eventually(func() int { return s.log.count("peers endpoint unreachable;") }).WithTimeout(3 * time.Second).Should(Equal(1))
	time.Sleep(2 * time.Second) // retried at ~1s and ~3s: still short of the bound
	g.Expect(s.log.errors()).To(BeZero(), "a short outage was logged as an error:\n%s", strings.Join(s.log.messages(), "\n"))

	escalated := func() int { return s.log.count("peers endpoint unreachable for longer than 4s") }
	g.Eventually(escalated).WithTimeout(10 * time.Second).Should(Equal(1))
	g.Expect(s.log.errors()).To(Equal(1))

	ln, err := net.Listen("tcp", addr)
	g.Expect(err).NotTo(HaveOccurred())
	back := &http.Server{Handler: http.HandlerFunc(ep.serve)}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	g.Eventually(func() int { return s.log.count("peers endpoint answering again") }).WithTimeout(40 * time.Second).Should(Equal(1))
	g.Expect(escalated()).To(Equal(1), "the outage was escalated more than once")
}

// A 503 with Retry-After (the operator shutting down, or a poll cap) is
// routine: no ERROR line, the server waits as told, keeps pinging, and
// applies the next document once the endpoint answers again.
func TestRetryAfterIsRoutine(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1, p2 := startPeer(t, "p1"), startPeer(t, "p2")
	ep := newEndpoint(t, document("r1", time.Second, p1))
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/peers"}, nil)
	g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(3 * time.Second).Should(BeNumerically(">=", 1))

	ep.update(func(e *endpoint) { e.mode = "busy" })
	g.Eventually(func() int { return s.log.count("peers endpoint asks to retry later") }).WithTimeout(2 * time.Second).Should(BeNumerically(">=", 1))
	requests := ep.requestCount()
	time.Sleep(2500 * time.Millisecond)
	g.Expect(ep.requestCount()-requests).To(BeNumerically("<=", 3), "Retry-After: 1 was not honoured")
	before := s.log.count(pongPrefix("p1"))
	g.Eventually(func() int { return s.log.count(pongPrefix("p1")) }).WithTimeout(3 * time.Second).Should(BeNumerically(">", before))

	ep.update(func(e *endpoint) { e.mode, e.doc = "ok", document("r2", time.Second, p1, p2) })
	g.Eventually(func() int { return s.log.count(pongPrefix("p2")) }).WithTimeout(5 * time.Second).Should(BeNumerically(">=", 1))
	g.Expect(s.log.errors()).To(BeZero(), "a routine retry was logged as an error:\n%s", strings.Join(s.log.messages(), "\n"))
	g.Expect(s.log.count("peers endpoint failed")).To(BeZero())
}

// At a 60s interval, a peer that appears in a later document is pinged
// within seconds, not somewhere in the next minute.
func TestNewPeerIsPingedSoon(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1, p2 := startPeer(t, "p1"), startPeer(t, "p2")
	ep := newEndpoint(t, document("r1", time.Minute, p1))
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/peers"}, nil)
	g.Eventually(func() int { return s.log.count("now pinging p1 ") }).WithTimeout(3 * time.Second).Should(Equal(1))

	added := time.Now()
	ep.update(func(e *endpoint) { e.doc = document("r2", time.Minute, p1, p2) })
	g.Eventually(func() int { return s.log.count(pongPrefix("p2")) }).WithTimeout(mesh.NewPeerSpread+2*time.Second).
		Should(Equal(1), "a new peer must be pinged within %s at a 60s interval", mesh.NewPeerSpread)
	t.Logf("new peer pinged %s after it appeared", time.Since(added).Round(time.Millisecond))
}

// Documents carry an order; after a reconnect to an operator replica whose
// cache is behind, an older document is ignored and the newer set stays.
func TestAnOlderDocumentIsIgnored(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p1, p2, p3 := startPeer(t, "p1"), startPeer(t, "p2"), startPeer(t, "p3")
	newer := document("r2", time.Second, p1, p2)
	newer.Order = 200
	ep := newEndpoint(t, newer)
	s := startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/peers"}, nil)
	g.Eventually(func() int { return s.log.count("now pinging p2 ") }).WithTimeout(3 * time.Second).Should(Equal(1))

	older := document("r1", time.Second, p1)
	older.Order = 150
	ep.update(func(e *endpoint) { e.doc = older })
	g.Eventually(func() int { return s.log.count("ignoring an older peers document") }).WithTimeout(3 * time.Second).Should(BeNumerically(">=", 1))
	before := s.log.count(pongPrefix("p2"))
	g.Eventually(func() int { return s.log.count(pongPrefix("p2")) }).WithTimeout(3*time.Second).Should(BeNumerically(">", before), "the newer set stays")
	g.Expect(s.log.count("stopped pinging p2 ")).To(BeZero())

	newest := document("r3", time.Second, p1, p3)
	newest.Order = 201
	ep.update(func(e *endpoint) { e.doc = newest })
	g.Eventually(func() int { return s.log.count("now pinging p3 ") }).WithTimeout(3 * time.Second).Should(Equal(1))
	g.Expect(s.log.count("stopped pinging p2 ")).To(Equal(1))
}

// The pod's projected token goes with every request, read afresh each time:
// the kubelet rotates the file.
func TestThePodTokenIsSentAndReread(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	file := filepath.Join(t.TempDir(), "token")
	g.Expect(os.WriteFile(file, []byte("first-token\n"), 0o600)).To(Succeed())
	p1 := startPeer(t, "p1")
	ep := newEndpoint(t, document("r1", time.Second, p1))
	startServer(t, config.Config{PodName: "self", PeersURL: ep.URL + "/v1/namespaces/test/peergroups/mesh/peers", TokenFile: file}, nil)
	g.Eventually(ep.authorizations).Should(ContainElement("Bearer first-token"))

	g.Expect(os.WriteFile(file, []byte("rotated-token"), 0o600)).To(Succeed())
	ep.update(func(e *endpoint) { e.doc = document("r2", time.Second, p1) }) // the long-poll returns; the next one starts
	g.Eventually(ep.authorizations).WithTimeout(3 * time.Second).Should(ContainElement("Bearer rotated-token"))
}
