// Package ui serves the live web view of mesh health: the groups and, per
// group, a source × destination matrix from the collector's last round. It
// never calls pods: everything comes from the informer cache and the
// collector's aggregate.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/health"
)

//go:embed static
var static embed.FS

// Limits: a page holds one stream; a handful of people look at once.
const (
	MaxStreams = 32
	// MinPush spaces a stream's updates: rounds of many groups end at
	// different times, and the page needs no more than this.
	MinPush = time.Second
	// MaxStreamAge ends a stream; the browser's EventSource reconnects, so
	// no connection lives forever.
	MaxStreamAge = 10 * time.Minute
	heartbeat    = 15 * time.Second
)

// Server is the web view, served on every replica (only the leader's
// collector has rounds; the page says so on the others).
type Server struct {
	Reader client.Reader // the manager's cache
	Links  *health.Collector

	streams atomic.Int32
}

// Handler routes the page, its data and its stream.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static") // cannot fail: the folder is embedded
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/view", s.serveView)
	mux.HandleFunc("GET /api/stream", s.serveStream)
	return mux
}

// Runnable serves the view on ln, with these limits, until ctx ends:
// controller-runtime's manager.Server, on every replica.
func (s *Server) Runnable(ctx context.Context, ln net.Listener) *manager.Server {
	return &manager.Server{Name: "web view", Listener: ln, ShutdownTimeout: ptr.To(5 * time.Second),
		Server: &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       2 * time.Minute,
			WriteTimeout:      MaxStreamAge + time.Minute,
			MaxHeaderBytes:    8 << 10,
			BaseContext:       func(net.Listener) context.Context { return ctx }, // streams end with the operator
		}}
}

// View is what the page shows: every group, and the selected one in full.
type View struct {
	// Collecting: this replica runs the link rounds (it is the leader).
	Collecting bool      `json:"collecting"`
	Groups     []Group   `json:"groups"`
	Group      *Detail   `json:"group,omitempty"`
	At         time.Time `json:"at"`
}

// Group is one line of the groups list.
type Group struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Health is the LinksHealthy condition's status: True, False or Unknown.
	Health  string `json:"health"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Links   string `json:"links,omitempty"`
	P99     string `json:"p99,omitempty"`
	Suspect string `json:"suspect,omitempty"`
	Ready   string `json:"ready"` // "3/3"
}

// Detail is the selected group: its suspects and matrix.
type Detail struct {
	Group
	Interval string             `json:"interval"`
	Suspects []v1alpha1.Suspect `json:"suspects"`
	Matrix   *health.Matrix     `json:"matrix,omitempty"`
}

func (s *Server) serveView(w http.ResponseWriter, r *http.Request) {
	v, err := s.view(r.Context(), r.URL.Query().Get("group"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// serveStream pushes the view after each round (Server-Sent Events), at
// most once per MinPush, until the client leaves or MaxStreamAge.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if s.streams.Add(1) > MaxStreams {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many open views", http.StatusServiceUnavailable)
		return
	}
	defer s.streams.Add(-1)
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	group := r.URL.Query().Get("group")
	ctx, cancel := context.WithTimeout(r.Context(), MaxStreamAge)
	defer cancel()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		round := s.Links.RoundDone() // taken before reading, so no round is missed
		v, err := s.view(ctx, group)
		if err != nil {
			return
		}
		data, _ := json.Marshal(v)
		if _, err := w.Write([]byte("data: " + string(data) + "\n\n")); err != nil {
			return
		}
		flusher.Flush()
		pushed := time.Now()
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-beat.C:
				w.Write([]byte(": keep-alive\n\n"))
				flusher.Flush()
			case <-round:
				break wait
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(pushed.Add(MinPush))):
		}
	}
}

// view reads the groups from the cache and the selected one's matrix from
// the collector ("namespace/name"; empty for none).
func (s *Server) view(ctx context.Context, selected string) (View, error) {
	var list v1alpha1.PeerGroupList
	if err := s.Reader.List(ctx, &list); err != nil {
		return View{}, err
	}
	v := View{Collecting: s.Links.Collecting(), Groups: []Group{}, At: time.Now()}
	for i := range list.Items {
		pg := &list.Items[i]
		key := types.NamespacedName{Namespace: pg.Namespace, Name: pg.Name}
		g, suspects := summary(pg), pg.Status.Suspects
		// The leader's last round is newer than the status it is about to
		// write: show that, so the list and the matrix always agree.
		if r, ok := s.Links.Latest(key); ok {
			g, suspects = fromRound(g, r), r.Suspects
		}
		v.Groups = append(v.Groups, g)
		if selected != pg.Namespace+"/"+pg.Name {
			continue
		}
		d := &Detail{Group: g, Interval: pg.Interval().String(), Suspects: suspects}
		if m, ok := s.Links.Matrix(key); ok {
			d.Matrix = &m
		}
		v.Group = d
	}
	// Troubled groups first, then by name.
	rank := map[string]int{string(metav1.ConditionFalse): 0, string(metav1.ConditionUnknown): 1, string(metav1.ConditionTrue): 2}
	slices.SortFunc(v.Groups, func(a, b Group) int {
		if d := rank[a.Health] - rank[b.Health]; d != 0 {
			return d
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return v, nil
}

// fromRound describes the group by a round's summary instead of its status.
func fromRound(g Group, r health.Result) Group {
	status, reason, message := health.Condition(r.Links, r.Suspects)
	g.Health, g.Reason, g.Message = string(status), reason, message
	g.Links, g.P99, g.Suspect = r.Links.Summary, r.Links.P99, firstSuspect(r.Suspects)
	return g
}

func summary(pg *v1alpha1.PeerGroup) Group {
	g := Group{Namespace: pg.Namespace, Name: pg.Name, Health: string(metav1.ConditionUnknown),
		Ready: fmt.Sprintf("%d/%d", pg.Status.ReadyReplicas, pg.DesiredReplicas())}
	if c := conditions.Get(pg, health.LinksHealthyCondition); c != nil {
		g.Health, g.Reason, g.Message = string(c.Status), c.Reason, c.Message
	}
	if l := pg.Status.Links; l != nil {
		g.Links, g.P99 = l.Summary, l.P99
	}
	g.Suspect = firstSuspect(pg.Status.Suspects)
	return g
}

func firstSuspect(suspects []v1alpha1.Suspect) string {
	if len(suspects) == 0 {
		return ""
	}
	return health.Ref(suspects[0])
}
