package peersapi

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Handler serves GET /v1/namespaces/{ns}/peergroups/{name}/peers from a
// cache-backed reader.
type Handler struct {
	Reader   client.Reader // the manager's cache
	Notifier *Notifier

	// MaxParked and MaxParkedPerGroup cap the long-polls held at once;
	// beyond them a poll is answered at once with 503 (overall) or 429 (per
	// group) and Retry-After, which servers honour. Zero means the default.
	MaxParked, MaxParkedPerGroup int

	stopping chan struct{} // closed when the operator shuts down

	mu       sync.Mutex
	parked   int
	parkedBy map[types.NamespacedName]int
}

// Default caps: 10,000 pods' polls with room for reconnects, and a group of
// 1,000 pods (the CRD's maximum) twice over.
const (
	DefaultMaxParked         = 15000
	DefaultMaxParkedPerGroup = 2000
	// RetryAfterBusy is what a poll over a cap is told.
	RetryAfterBusy = "5"
)

// park counts a held poll, or answers the status that refuses it.
func (h *Handler) park(key types.NamespacedName) (release func(), refused int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.parked >= cmp.Or(h.MaxParked, DefaultMaxParked):
		return nil, http.StatusServiceUnavailable
	case h.parkedBy[key] >= cmp.Or(h.MaxParkedPerGroup, DefaultMaxParkedPerGroup):
		return nil, http.StatusTooManyRequests
	}
	if h.parkedBy == nil {
		h.parkedBy = map[types.NamespacedName]int{}
	}
	h.parked++
	h.parkedBy[key]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.parked--
		if h.parkedBy[key]--; h.parkedBy[key] == 0 {
			delete(h.parkedBy, key)
		}
	}, 0
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
	parked := false
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
		if req.Wait > 0 && !parked {
			release, refused := h.park(req.Group)
			if refused != 0 {
				w.Header().Set("Retry-After", RetryAfterBusy)
				writeJSON(w, refused, peers.Error{Error: "too many long-polls held; retry"})
				return
			}
			defer release()
			parked = true
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
	watch, version, changed, known := h.Notifier.current(req.Group)
	if !known {
		// Only a group that exists gets an entry: any name can be asked for.
		if err := h.Reader.Get(ctx, req.Group, &v1alpha1.PeerGroup{}); err != nil {
			return peers.Document{}, nil, false, client.IgnoreNotFound(err)
		}
		watch, version, changed = h.Notifier.register(req.Group)
	}
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
	_, members, err := ListMembers(ctx, h.Reader, &pg)
	if err != nil {
		return nil, false, err
	}
	g := Build(&pg, members)
	return &g, true, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
