package peersapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Asking about groups that do not exist costs nothing that lasts: the
// notifier holds entries only for groups that exist, and drops one when its
// group is deleted.
func TestUnknownGroupsLeaveNothingBehind(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "unknown", 2, 0)
	for i := range 500 {
		resp, _ := f.get(g, "GET", "", "")
		resp.Body.Close()
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+peers.Path("unknown", fmt.Sprintf("nope-%d", i))+"?wait=1s", nil)
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
	}
	g.Expect(f.h.Notifier.Len()).To(Equal(1), "only the group that exists")
	f.h.Notifier.Forget(client.ObjectKeyFromObject(f.pg)) // what the informer does on delete
	g.Expect(f.h.Notifier.Len()).To(BeZero())
}

// Held long-polls are capped per group (429) and overall (503), each with
// Retry-After; a held poll that ends frees its place.
func TestParkedPollsAreCapped(t *testing.T) {
	g := NewWithT(t)
	a := newFixture(t, g, "caps-a", 2, 0)
	b := newFixture(t, g, "caps-b", 2, 0)
	a.h.MaxParkedPerGroup, a.h.MaxParked = 1, 2
	b.h = a.h // one handler serves both groups
	b.srv.Config.Handler = a.h

	etag := func(f *fixture, self string) string { // each pod's view has its own revision
		resp, _ := f.get(g, "GET", "?self="+self, "")
		return resp.Header.Get("ETag")
	}
	hold := func(f *fixture, wait string) <-chan *http.Response {
		out := make(chan *http.Response, 1)
		go func() {
			resp, _ := f.get(g, "GET", "?self=mesh-0&wait="+wait, etag(f, "mesh-0"))
			out <- resp
		}()
		return out
	}
	first := hold(a, "2s")
	time.Sleep(300 * time.Millisecond)
	resp, body := a.get(g, "GET", "?self=mesh-1&wait=30s", etag(a, "mesh-1"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests), body)
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("5"))

	second := hold(b, "2s")
	time.Sleep(300 * time.Millisecond)
	c := newFixture(t, g, "caps-c", 1, 0)
	c.srv.Config.Handler = a.h
	resp, body = c.get(g, "GET", "?self=mesh-0&wait=30s", etag(c, "mesh-0"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable), body)
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("5"))

	g.Eventually(first).WithTimeout(5 * time.Second).Should(Receive(HaveField("StatusCode", http.StatusNotModified)))
	g.Eventually(second).WithTimeout(5 * time.Second).Should(Receive(HaveField("StatusCode", http.StatusNotModified)))
	resp, body = a.get(g, "GET", "?self=mesh-1&wait=100ms", etag(a, "mesh-1"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotModified), "the place was freed: %s", body)
}

// One pod cannot hold its group's places: a third poll of the same pod is
// refused (429, Retry-After) while two are held, and its group's other pods
// still park.
func TestOnePodCannotHoldItsGroupsPlaces(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "caps-pod", 2, 0)
	etag := func(self string) string {
		resp, _ := f.get(g, "GET", "?self="+self, "")
		return resp.Header.Get("ETag")
	}
	held := make(chan *http.Response, 2)
	for range 2 {
		go func() {
			resp, _ := f.get(g, "GET", "?self=mesh-0&wait=2s", etag("mesh-0"))
			held <- resp
		}()
	}
	time.Sleep(300 * time.Millisecond)
	resp, body := f.get(g, "GET", "?self=mesh-0&wait=30s", etag("mesh-0"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests), body)
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("5"))
	resp, body = f.get(g, "GET", "?self=mesh-1&wait=500ms", etag("mesh-1"))
	g.Expect(resp.StatusCode).To(Equal(http.StatusNotModified), "another pod of the group parks: %s", body)
	for range 2 {
		g.Eventually(held).WithTimeout(5 * time.Second).Should(Receive(HaveField("StatusCode", http.StatusNotModified)))
	}
}
