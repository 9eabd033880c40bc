package peersapi

import (
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// NewServer wires a handler to the cache and its informers' events; auth
// (nil for none) checks who calls.
func NewServer(ctx context.Context, addr string, c cache.Cache, auth *Authenticator) (*Server, error) {
	n := NewNotifier(c)
	if err := Watch(ctx, c, n); err != nil {
		return nil, err
	}
	return &Server{Addr: addr, Handler: &Handler{Notifier: n, Auth: auth, stopping: make(chan struct{})}}, nil
}

// Ready is a readiness check: the peers API is listening and not stopping.
func (s *Server) Ready(*http.Request) error {
	if !s.serving.Load() {
		return errors.New("the peers API is not serving")
	}
	return nil
}

// Watch feeds n the informer events that can change a group's documents:
// a PeerGroup's spec, a member pod's address, readiness, node or owner, a
// ReplicaSet's owner. Status writes (the operator's own included) and other
// updates are dropped here, before they cost a rebuild.
func Watch(ctx context.Context, c cache.Cache, n *Notifier) error {
	var synced []interface{ LastSyncResourceVersion() string }
	for _, w := range []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&v1alpha1.PeerGroup{}, events(groupKey, func(old, obj client.Object) bool { return old.GetGeneration() != obj.GetGeneration() }, n, n.Forget)},
		{&corev1.Pod{}, events(memberKey, podInputsChanged, n, nil)},
		{&appsv1.ReplicaSet{}, events(memberKey, ownerChanged, n, nil)}, // membership follows the group's ReplicaSets
	} {
		inf, err := c.GetInformer(ctx, w.obj)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(w.handler); err != nil {
			return err
		}
		if s, ok := inf.(interface{ LastSyncResourceVersion() string }); ok {
			synced = append(synced, s)
		}
	}
	// A document's order: how far this replica's cache has got. A replica
	// that is behind (restarting, a slow watch) answers with lower orders,
	// and servers ignore them.
	n.progress = func() uint64 {
		var highest uint64
		for _, s := range synced {
			v, _ := strconv.ParseUint(s.LastSyncResourceVersion(), 10, 64)
			highest = max(highest, v)
		}
		return highest
	}
	return nil
}

func memberKey(o client.Object) (types.NamespacedName, bool) { return render.GroupOf(o) }

func groupKey(o client.Object) (types.NamespacedName, bool) {
	return client.ObjectKeyFromObject(o), true
}

// events turns informer events into notifications for the group keyOf
// names. relevant filters updates; gone, if set, replaces the delete
// notification (the group itself went).
func events(keyOf func(client.Object) (types.NamespacedName, bool), relevant func(old, obj client.Object) bool,
	n *Notifier, gone func(types.NamespacedName)) toolscache.ResourceEventHandlerFuncs {
	object := func(obj any) client.Object {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		o, _ := obj.(client.Object)
		return o
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o := object(obj); o != nil {
				if key, ok := keyOf(o); ok {
					n.Notify(key)
				}
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			old, o := object(oldObj), object(obj)
			if old == nil || o == nil {
				return
			}
			if key, ok := keyOf(o); ok && relevant(old, o) {
				n.Notify(key)
			}
		},
		DeleteFunc: func(obj any) {
			o := object(obj)
			if o == nil {
				return
			}
			if key, ok := keyOf(o); ok {
				if gone != nil {
					gone(key)
				} else {
					n.NotifyDeleted(key, resourceVersion(o))
				}
			}
		},
	}
}

// podInputsChanged: did anything a document reads from the pod change?
func podInputsChanged(oldObj, obj client.Object) bool {
	old, pod := oldObj.(*corev1.Pod), obj.(*corev1.Pod)
	oldAddress, oldOK := Address(old, 0)
	address, ok := Address(pod, 0)
	return oldAddress != address || oldOK != ok || old.Spec.NodeName != pod.Spec.NodeName || ownerChanged(old, pod)
}

// ownerChanged: a change of controller or labels can change membership.
func ownerChanged(old, obj client.Object) bool {
	a, b := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(obj)
	return (a == nil) != (b == nil) || (a != nil && a.UID != b.UID) || !maps.Equal(old.GetLabels(), obj.GetLabels())
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
