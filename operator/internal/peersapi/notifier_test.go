package peersapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
)

// Waking a group's long-polls (comparing up to 1,000 views) holds no lock
// another group needs: while one group's refresh is stopped in the middle,
// another group's pods are answered and park. Before, the comparisons ran
// under the lock every group shares.
func TestAGroupsWakeUpHoldsUpNoOtherGroup(t *testing.T) {
	g := NewWithT(t)
	a := newFixture(t, g, "lock-a", 2, 0)
	b := newFixture(t, g, "lock-b", 2, 0)
	b.h = a.h // one handler and one notifier serve both groups
	b.srv.Config.Handler = a.h

	etag := func(f *fixture, self string) string {
		resp, _ := f.get(g, "GET", "?self="+self, "")
		return resp.Header.Get("ETag")
	}
	held := make(chan *http.Response, 1)
	go func() {
		resp, _ := a.get(g, "GET", "?self=mesh-0&wait=5s", etag(a, "mesh-0"))
		held <- resp
	}()
	stopped, release := make(chan struct{}), make(chan struct{})
	var stopOnce, releaseOnce sync.Once
	peersapi.SetTestHookWaking(a.h.Notifier, func() {
		stopOnce.Do(func() { close(stopped) })
		<-release
	})
	// A failed test must not leave handlers blocked.
	defer releaseOnce.Do(func() { close(release) })
	// Once the poll is parked, a change starts a refresh.
	go func() {
		for {
			select {
			case <-stopped:
				return
			case <-time.After(50 * time.Millisecond):
				a.h.Notifier.Notify(client.ObjectKeyFromObject(a.pg))
			}
		}
	}()
	g.Eventually(stopped).WithTimeout(5 * time.Second).Should(BeClosed())

	answered := make(chan int, 1)
	go func() {
		resp, _ := b.get(g, "GET", "?self=mesh-1&wait=200ms", etag(b, "mesh-1"))
		answered <- resp.StatusCode
	}()
	g.Eventually(answered).WithTimeout(5*time.Second).Should(Receive(Equal(http.StatusNotModified)),
		"another group waited for this one's wake-up")
	releaseOnce.Do(func() { close(release) })
	g.Eventually(held).WithTimeout(10 * time.Second).Should(Receive(HaveField("StatusCode", http.StatusNotModified)))
}

// deletingReader deletes the group and has the notifier forget it right
// after reading it: the deletion lands between the notifier's read and its
// entry.
type deletingReader struct {
	client.Client
	notifier **peersapi.Notifier
}

func (r deletingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.Client.Get(ctx, key, obj, opts...)
	if _, isGroup := obj.(*v1alpha1.PeerGroup); isGroup && err == nil {
		if err := r.Client.Delete(ctx, &v1alpha1.PeerGroup{ObjectMeta: *obj.(*v1alpha1.PeerGroup).ObjectMeta.DeepCopy()}); err != nil {
			return err
		}
		(*r.notifier).Forget(key) // what the informer's delete event does
	}
	return err
}

// A group deleted while the notifier reads it for a first poll leaves no
// entry: before, the entry was made after Forget and stayed for good.
func TestADeletionDuringTheFirstReadLeavesNoEntry(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t, g, "forget-race", 2, 0)
	var n *peersapi.Notifier
	n = peersapi.NewNotifier(deletingReader{Client: env.Client, notifier: &n})
	_, _, err := n.Snapshot(ctx, client.ObjectKeyFromObject(f.pg))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(n.Len()).To(BeZero(), "an entry outlives its deleted group")
}
