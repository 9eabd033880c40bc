package peersapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// Handler serves GET /v1/namespaces/{ns}/peergroups/{name}/peers from a
// cache-backed reader.
type Handler struct {
	Reader   client.Reader // the manager's cache
	Notifier *Notifier

	stopping chan struct{} // closed when the operator shuts down
}

// RetryAfterShutdown is what parked polls are told when the operator stops:
// by then another replica (or this one, restarted) serves them.
const RetryAfterShutdown = "1"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, aerr := ParseRequest(r.Method, r.URL)
	if aerr != nil {
		if aerr.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD")
		}
		writeJSON(w, aerr.Status, peers.Error{Error: aerr.Message})
		return
	}
	deadline := time.NewTimer(req.Wait)
	defer deadline.Stop()
	etag := r.Header.Get("If-None-Match")
	for {
		doc, changed, found, err := h.document(r.Context(), req)
		switch {
		case err != nil:
			logf.FromContext(r.Context()).Error(err, "reading the cache", "group", req.Group)
			writeJSON(w, http.StatusServiceUnavailable, peers.Error{Error: "the operator's cache is not ready; retry"})
			return
		case !found:
			writeJSON(w, http.StatusNotFound, peers.Error{Error: "peergroup " + req.Group.String() + " not found"})
			return
		case etag != `"`+doc.Revision+`"`:
			w.Header().Set("ETag", `"`+doc.Revision+`"`)
			writeJSON(w, http.StatusOK, doc)
			return
		}
		select { // unchanged: hold the request until a change or the deadline
		case <-changed:
		case <-deadline.C:
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		case <-h.stopping:
			w.Header().Set("Retry-After", RetryAfterShutdown)
			writeJSON(w, http.StatusServiceUnavailable, peers.Error{Error: "the operator is shutting down; retry"})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// document returns the pod's view of the group and a channel closed at the
// group's next change.
func (h *Handler) document(ctx context.Context, req Request) (peers.Document, <-chan struct{}, bool, error) {
	watch, version, changed := h.Notifier.current(req.Group)
	g, found, err := watch.memoized(version, func() (*Group, bool, error) { return h.build(ctx, req.Group) })
	if err != nil || !found {
		return peers.Document{}, changed, found, err
	}
	return g.View(req.Self), changed, true, nil
}

func (h *Handler) build(ctx context.Context, key types.NamespacedName) (*Group, bool, error) {
	var pg v1alpha1.PeerGroup
	if err := h.Reader.Get(ctx, key, &pg); err != nil {
		if apierrors.IsNotFound(err) {
			return &Group{}, false, nil
		}
		return nil, false, err
	}
	var replicaSets appsv1.ReplicaSetList
	if err := h.Reader.List(ctx, &replicaSets, client.InNamespace(key.Namespace), client.MatchingLabels(render.SelectorLabels(&pg))); err != nil {
		return nil, false, err
	}
	var pods corev1.PodList
	if err := h.Reader.List(ctx, &pods, client.InNamespace(key.Namespace), client.MatchingLabels(render.SelectorLabels(&pg))); err != nil {
		return nil, false, err
	}
	g := Build(&pg, Members(&pg, replicaSets.Items, pods.Items))
	return &g, true, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
