package peersapi

import (
	"cmp"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Handler serves GET /v1/namespaces/{ns}/peergroups/{name}/peers from the
// notifier's snapshots of the manager's cache.
type Handler struct {
	Notifier *Notifier
	// Auth, if set, answers only member pods, each with its own view (the
	// operator always sets it; without it, anyone gets the view of the
	// pod named by ?self=).
	Auth *Authenticator

	// MaxParked, MaxParkedPerGroup and MaxParkedPerPod cap the long-polls
	// held at once; beyond them a poll is answered at once with 503
	// (overall) or 429 (per group, per calling pod) and Retry-After, which
	// servers honour. Zero means the default.
	MaxParked, MaxParkedPerGroup, MaxParkedPerPod int

	stopping chan struct{} // closed when the operator shuts down

	mu          sync.Mutex
	parked      int
	parkedBy    map[types.NamespacedName]int
	parkedByPod map[podKey]int
}

// podKey is a calling pod of a group.
type podKey struct {
	group types.NamespacedName
	pod   string
}

// Default caps: 10,000 pods' polls with room for reconnects, and a group of
// 1,000 pods (the CRD's maximum) twice over.
const (
	DefaultMaxParked         = 15000
	DefaultMaxParkedPerGroup = 2000
	// DefaultMaxParkedPerPod: a server holds one poll; a second covers a
	// poll the server gave up on that the operator has not noticed yet. One
	// pod cannot take its group's places.
	DefaultMaxParkedPerPod = 2
	// RetryAfterBusy is what a poll over a cap is told.
	RetryAfterBusy = "5"
)

// park counts a held poll of pod in group, or answers the status that
// refuses it.
func (h *Handler) park(group types.NamespacedName, pod string) (release func(), refused int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := podKey{group, pod}
	switch {
	case h.parked >= cmp.Or(h.MaxParked, DefaultMaxParked):
		return nil, http.StatusServiceUnavailable
	case h.parkedBy[group] >= cmp.Or(h.MaxParkedPerGroup, DefaultMaxParkedPerGroup),
		h.parkedByPod[key] >= cmp.Or(h.MaxParkedPerPod, DefaultMaxParkedPerPod):
		return nil, http.StatusTooManyRequests
	}
	if h.parkedBy == nil {
		h.parkedBy, h.parkedByPod = map[types.NamespacedName]int{}, map[podKey]int{}
	}
	h.parked++
	h.parkedBy[group]++
	h.parkedByPod[key]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.parked--
		if h.parkedBy[group]--; h.parkedBy[group] == 0 {
			delete(h.parkedBy, group)
		}
		if h.parkedByPod[key]--; h.parkedByPod[key] == 0 {
			delete(h.parkedByPod, key)
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
	if h.Auth != nil {
		source, _, _ := net.SplitHostPort(r.RemoteAddr)
		caller, aerr := h.Auth.Authorize(r.Context(), r.Header.Get("Authorization"), source, req.Group, req.Self)
		if aerr != nil {
			if aerr.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="peers API"`)
			}
			if aerr.RetryAfter != "" {
				w.Header().Set("Retry-After", aerr.RetryAfter)
			}
			writeJSON(w, aerr.Status, peers.Error{Error: aerr.Message})
			return
		}
		req.Self = caller
	}
	deadline := time.NewTimer(req.Wait)
	defer deadline.Stop()
	etag := r.Header.Get("If-None-Match")
	parked := false
	for {
		snap, version, err := h.Notifier.Snapshot(r.Context(), req.Group)
		if err != nil {
			if r.Context().Err() == nil { // not the caller leaving, nor the operator stopping
				logf.FromContext(r.Context()).Error(err, "reading the cache", "group", req.Group)
			}
			writeJSON(w, http.StatusServiceUnavailable, peers.Error{Error: "the operator's cache is not ready; retry"})
			return
		}
		if !snap.Found {
			writeJSON(w, http.StatusNotFound, peers.Error{Error: "peergroup " + req.Group.String() + " not found"})
			return
		}
		view := snap.View(req.Self)
		if etag != `"`+view.Revision+`"` {
			writeView(w, r, view)
			return
		}
		if req.Wait > 0 && !parked {
			release, refused := h.park(req.Group, req.Self)
			if refused != 0 {
				w.Header().Set("Retry-After", RetryAfterBusy)
				writeJSON(w, refused, peers.Error{Error: "too many long-polls held; retry"})
				return
			}
			defer release()
			parked = true
		}
		// Unchanged: hold the request until this pod's view changes or the deadline.
		wt := h.Notifier.park(req.Group, req.Self, view.Revision, version)
		select {
		case <-wt.wake:
			continue
		case <-deadline.C:
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
		case <-h.stopping:
			w.Header().Set("Retry-After", RetryAfterShutdown)
			writeJSON(w, http.StatusServiceUnavailable, peers.Error{Error: "the operator is shutting down; retry"})
		case <-r.Context().Done():
		}
		h.Notifier.unpark(req.Group, wt)
		return
	}
}

// writeView answers 200 with the view, gzipped when it is large and the
// client accepts gzip (Go's client does unless told otherwise).
func writeView(w http.ResponseWriter, r *http.Request, view View) {
	parts, length, gzipped := view.Body(acceptsGzip(r.Header.Get("Accept-Encoding")))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"`+view.Revision+`"`)
	w.Header().Set("Vary", "Accept-Encoding")
	if gzipped {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(http.StatusOK)
	for _, p := range parts { // mostly slices of the snapshot's shared bytes
		w.Write(p)
	}
}

// acceptsGzip reads Accept-Encoding: gzip listed and not refused with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
