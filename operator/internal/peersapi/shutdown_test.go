package peersapi_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/setup"
)

// Stopping the peers API (an operator rollout) answers every parked
// long-poll with 503 and Retry-After, which servers treat as routine, never
// with an empty 200; and it is Ready only while it serves.
func TestShutdownAnswersParkedPolls(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "shutdown", 3, 0)
	informers, err := cache.New(env.Config, cache.Options{Scheme: setup.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, stopCache := context.WithCancel(context.Background())
	defer stopCache()
	go informers.Start(ctx)

	serving, stop := context.WithCancel(context.Background())
	srv, err := peersapi.NewServer(serving, "127.0.0.1:0", informers, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(srv.Ready(nil)).NotTo(Succeed(), "not Ready before it listens")
	listening := make(chan net.Addr, 1)
	srv.Listening = func(a net.Addr) { listening <- a }
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Start(serving) }()
	url := "http://" + (<-listening).String() + peers.Path(f.pg.Namespace, f.pg.Name)
	g.Eventually(func() error { return srv.Ready(nil) }).Should(Succeed())

	type answer struct {
		status     int
		retryAfter string
	}
	answers := make(chan answer, 3)
	for i := range 3 {
		self := f.pods[i].Name
		resp, err := http.Get(url + "?self=" + self)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		go func() {
			req, _ := http.NewRequest(http.MethodGet, url+"?wait=30s&self="+self, nil)
			req.Header.Set("If-None-Match", etag)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{}
				return
			}
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
		}()
	}
	time.Sleep(500 * time.Millisecond) // parked
	start := time.Now()
	stop()
	for range 3 {
		g.Eventually(answers).WithTimeout(5 * time.Second).Should(Receive(Equal(answer{http.StatusServiceUnavailable, "1"})))
	}
	t.Logf("3 parked polls answered 503 within %s of the stop", time.Since(start).Round(time.Millisecond))
	g.Eventually(stopped).Should(Receive(BeNil()))
	g.Expect(srv.Ready(nil)).NotTo(Succeed(), "not Ready once stopping")
}
