package peersapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// Server is the peers API as a manager runnable. It runs on every replica,
// leader or not: it only reads the informer cache.
type Server struct {
	Addr    string
	Handler *Handler
	// Listening, if set, receives the bound address (for tests on port 0).
	Listening func(net.Addr)

	serving atomic.Bool
}

// NewServer wires a handler to the cache and its informers' events.
func NewServer(ctx context.Context, addr string, c cache.Cache) (*Server, error) {
	n := NewNotifier()
	if err := Watch(ctx, c, n); err != nil {
		return nil, err
	}
	return &Server{Addr: addr, Handler: &Handler{Reader: c, Notifier: n, stopping: make(chan struct{})}}, nil
}

// Ready is a readiness check: the peers API is listening and not stopping.
func (s *Server) Ready(*http.Request) error {
	if !s.serving.Load() {
		return errors.New("the peers API is not serving")
	}
	return nil
}

// Watch makes every PeerGroup and server-pod event in the cache notify n.
func Watch(ctx context.Context, c cache.Cache, n *Notifier) error {
	onEvent := func(keyOf func(client.Object) (types.NamespacedName, bool), gone func(types.NamespacedName)) toolscache.ResourceEventHandlerFuncs {
		handle := func(obj any, deleted bool) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			o, ok := obj.(client.Object)
			if !ok {
				return
			}
			if key, ok := keyOf(o); ok {
				if deleted && gone != nil {
					gone(key)
				} else {
					n.Notify(key)
				}
			}
		}
		return toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { handle(obj, false) },
			UpdateFunc: func(_, obj any) { handle(obj, false) },
			DeleteFunc: func(obj any) { handle(obj, true) },
		}
	}
	groupKey := func(o client.Object) (types.NamespacedName, bool) { return client.ObjectKeyFromObject(o), true }
	podKey := func(o client.Object) (types.NamespacedName, bool) { return render.GroupOf(o) }
	for _, w := range []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandlerFuncs
	}{
		{&v1alpha1.PeerGroup{}, onEvent(groupKey, n.Forget)},
		{&corev1.Pod{}, onEvent(podKey, nil)},
		{&appsv1.ReplicaSet{}, onEvent(podKey, nil)}, // membership follows the group's ReplicaSets
	} {
		inf, err := c.GetInformer(ctx, w.obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(w.handler); err != nil {
			return err
		}
	}
	return nil
}

// Start serves until ctx ends (manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	if s.Listening != nil {
		s.Listening(ln.Addr())
	}
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		WriteTimeout:      peers.MaxWait + 30*time.Second, // longer than the longest long-poll
		MaxHeaderBytes:    8 << 10,
	}
	s.serving.Store(true)
	go func() {
		<-ctx.Done()
		// Parked long-polls answer 503 with Retry-After (servers wait and
		// retry, keeping their peers), then the server drains.
		s.serving.Store(false)
		close(s.Handler.stopping)
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection is false: every replica serves the peers API.
func (s *Server) NeedLeaderElection() bool { return false }
