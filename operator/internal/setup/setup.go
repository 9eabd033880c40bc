// Package setup wires the operator into a controller-runtime manager; main
// and the envtest suites share it, so tests run exactly what ships.
package setup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fluxcd/pkg/runtime/controller"
	"github.com/fluxcd/pkg/runtime/events"
	"github.com/fluxcd/pkg/runtime/metrics"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrl "sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	pgcontroller "github.com/simulated-peering/simulated-peering/operator/internal/controller"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/ui"
)

// ControllerName reports events and owns fields.
const ControllerName = "peering-operator"

// Options configure the operator.
type Options struct {
	Render       render.Options
	PeersAPIAddr string
	// PeersAPIListening, if set, receives the peers API's bound address.
	PeersAPIListening func(net.Addr)
	// Unauthenticated turns off the peers API's pod-bound tokens: anyone
	// gets the view of the pod it names (benchmarks of the API alone).
	Unauthenticated bool
	// UIAddr is where the web view listens ("" for none).
	UIAddr string
	// UIListening, if set, receives the web view's bound address.
	UIListening func(net.Addr)
	// MetricsRecorder defaults to one registered on controller-runtime's registry.
	MetricsRecorder *metrics.Recorder
}

// Scheme knows the built-in types and PeerGroup.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	clientgoscheme.AddToScheme(s)
	v1alpha1.AddToScheme(s)
	return s
}

// CacheOptions keep only server pods and the operator's own ReplicaSets,
// Services and NetworkPolicies in the informers, so the operator's memory
// grows with the meshes, not with the cluster.
func CacheOptions() cache.Options {
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{render.LabelManagedBy: render.ManagedBy})}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		// Pods are never applied by the operator, so their managedFields (a
		// third of a pod's size) need not be cached: 10,000 pods' worth.
		&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{render.LabelName: render.ServerName}),
			Transform: cache.TransformStripManagedFields()},
		&appsv1.ReplicaSet{}:          ours,
		&corev1.Service{}:             ours,
		&corev1.ServiceAccount{}:      ours,
		&networkingv1.NetworkPolicy{}: ours,
	}}
}

// Add registers the PeerGroup controller and the peers API on mgr.
func Add(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	recorder, err := events.NewRecorder(mgr.GetLogger().WithName("events"), "", ControllerName, events.WithManager(mgr))
	if err != nil {
		return err
	}
	if opts.MetricsRecorder == nil {
		opts.MetricsRecorder = metrics.MustMakeRecorder()
	}
	links := health.NewCollector(mgr.GetCache())
	r := &pgcontroller.PeerGroupReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		EventRecorder: recorder,
		Metrics:       controller.NewMetrics(mgr, opts.MetricsRecorder),
		Render:        opts.Render,
		Links:         links,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.Add(links); err != nil {
		return err
	}
	var auth *peersapi.Authenticator
	if !opts.Unauthenticated {
		auth = peersapi.NewAuthenticator(mgr.GetClient(), mgr.GetCache())
	}
	srv, err := peersapi.NewServer(ctx, opts.PeersAPIAddr, mgr.GetCache(), auth)
	if err != nil {
		return err
	}
	srv.Listening = opts.PeersAPIListening
	links.Snapshots = srv.Handler.Notifier.Current // one snapshot per change for polls and rounds alike
	// Ready means the informers have synced and the peers API is serving,
	// so a new operator pod gets no traffic it cannot answer.
	if err := mgr.AddReadyzCheck("informers", cacheSynced(mgr.GetCache())); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("peers-api", srv.Ready); err != nil {
		return err
	}
	if err := mgr.Add(srv); err != nil {
		return err
	}
	if opts.UIAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", opts.UIAddr)
	if err != nil {
		return fmt.Errorf("web view: %w", err)
	}
	if opts.UIListening != nil {
		opts.UIListening(ln.Addr())
	}
	view := &ui.Server{Reader: mgr.GetCache(), Links: links}
	return mgr.Add(view.Runnable(ctx, ln))
}

func cacheSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}
