package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/peersapi"
)

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// Collector fetches /links from every Ready pod of each group once per
// pingInterval (on the leader only), summarizes them, and tells the
// reconciler, through Changed, about the groups whose summary changed; the
// reconciler writes the status. It never writes to the API itself.
type Collector struct {
	Reader client.Reader // the manager's cache
	// Changed receives a group whose summary changed (never blocks: a full
	// channel means a reconcile is already queued).
	Changed chan event.TypedGenericEvent[*v1alpha1.PeerGroup]
	Client  *http.Client
	// Snapshots, if set, is the peers API's snapshot of a group its servers
	// poll (built once per change and shared by every poll; nil for none):
	// a round reads the views the servers were sent from it instead of
	// building its own.
	Snapshots func(context.Context, types.NamespacedName) *peersapi.Snapshot
	// fetches bounds the fetches in flight, over every group's round.
	fetches chan struct{}

	mu     sync.Mutex
	latest map[types.NamespacedName]Result
	// trackers hold each group's hysteresis between rounds.
	trackers map[types.NamespacedName]*Tracker
	// matrices lay out the reports behind latest for the web view.
	matrices map[types.NamespacedName]Matrix
	next     map[types.NamespacedName]time.Time
	busy     map[types.NamespacedName]bool // a round is in flight
	// roundDone is closed (and replaced) after every round of any group.
	roundDone chan struct{}
	running   atomic.Bool
}

// NewCollector returns a collector reading the cache.
func NewCollector(reader client.Reader) *Collector {
	return &Collector{
		Reader:  reader,
		Changed: make(chan event.TypedGenericEvent[*v1alpha1.PeerGroup], 1024),
		fetches: make(chan struct{}, MaxFetches),
		// No keep-alive: a round touches each pod once per interval, and a
		// connection per pod would be an idle socket per pod between rounds.
		Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true,
			MaxResponseHeaderBytes: 8 << 10}},
		latest:    map[types.NamespacedName]Result{},
		trackers:  map[types.NamespacedName]*Tracker{},
		matrices:  map[types.NamespacedName]Matrix{},
		next:      map[types.NamespacedName]time.Time{},
		busy:      map[types.NamespacedName]bool{},
		roundDone: make(chan struct{}),
	}
}

// NeedLeaderElection: one replica collects; the others would only repeat it.
func (c *Collector) NeedLeaderElection() bool { return true }

// MaxFetches bounds the /links fetches in flight over all groups, and
// MaxFetchesPerRound those of one group: a slow or broken group (each of its
// fetches may wait out its timeout) takes a share, never all of them.
const (
	MaxFetches         = 64
	MaxFetchesPerRound = 16
)

// lookAgain bounds the wait for the next due round, so new groups are seen.
const lookAgain = time.Second

// Start runs rounds until ctx ends: each group once per its interval, each
// round in its own goroutine (one at a time per group).
func (c *Collector) Start(ctx context.Context) error {
	c.running.Store(true)
	defer c.running.Store(false)
	var rounds sync.WaitGroup
	defer rounds.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		timer.Reset(c.startDue(ctx, &rounds))
	}
}

// startDue starts the rounds that are due and returns how long until the
// next one is.
func (c *Collector) startDue(ctx context.Context, rounds *sync.WaitGroup) time.Duration {
	var list v1alpha1.PeerGroupList
	// Read-only, and listed up to ten times a second: no deep copies.
	if err := c.Reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return lookAgain
	}
	now := time.Now()
	wait := lookAgain
	seen := map[types.NamespacedName]bool{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range list.Items {
		pg := &list.Items[i]
		key := client.ObjectKeyFromObject(pg)
		seen[key] = true
		if !pg.DeletionTimestamp.IsZero() {
			continue
		}
		if next := c.next[key]; now.Before(next) || c.busy[key] {
			wait = min(wait, max(next.Sub(now), 100*time.Millisecond))
			continue
		}
		c.next[key], c.busy[key] = now.Add(pg.Interval()), true
		wait = min(wait, pg.Interval())
		rounds.Go(func() {
			c.collect(ctx, pg)
			c.mu.Lock()
			delete(c.busy, key)
			c.mu.Unlock()
		})
	}
	c.forgetAllBut(seen)
	return wait
}

// forgetAllBut drops the groups not seen (c.mu held).
func (c *Collector) forgetAllBut(seen map[types.NamespacedName]bool) {
	for key := range c.next {
		if !seen[key] {
			delete(c.next, key)
			delete(c.latest, key)
			delete(c.trackers, key)
			delete(c.matrices, key)
			forget(key)
		}
	}
}

// Latest is the group's last summary, if a round has run.
func (c *Collector) Latest(key types.NamespacedName) (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.latest[key]
	return r, ok
}

// Matrix lays out the group's last round for the web view.
func (c *Collector) Matrix(key types.NamespacedName) (Matrix, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	matrix, ok := c.matrices[key]
	return matrix, ok
}

// Collecting: this replica runs the rounds (it is the leader).
func (c *Collector) Collecting() bool { return c.running.Load() }

// RoundDone is closed after the next round of any group.
func (c *Collector) RoundDone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundDone
}

func (c *Collector) collect(ctx context.Context, pg *v1alpha1.PeerGroup) {
	key := client.ObjectKeyFromObject(pg)
	log := logf.FromContext(ctx).WithValues("peergroup", key)
	roundCtx, cancel := context.WithTimeout(ctx, RoundDeadline(pg.Interval()))
	defer cancel()
	in, err := c.Round(roundCtx, pg, time.Now())
	switch {
	case ctx.Err() != nil:
		return // shutting down or no longer leading: not a failure, and not a round
	case err != nil:
		log.Error(err, "collecting links")
		return
	case roundCtx.Err() != nil:
		log.Info("links round reached its deadline; the pods not heard from count as unreported",
			"deadline", RoundDeadline(pg.Interval()), "reported", len(in.Reports), "expected", len(in.Expected))
	}
	c.mu.Lock()
	_, known := c.next[key]
	tracker := c.trackers[key]
	if tracker == nil && known {
		tracker = NewTracker()
		c.trackers[key] = tracker
	}
	c.mu.Unlock()
	if !known {
		return // deleted while the round ran: forgotten, and it stays so
	}
	in = tracker.Carry(in) // one round at a time per group
	r := tracker.Publish(Summarize(in), time.Now())
	// Laid out now, so the round's reports are garbage once it ends: a
	// matrix has at most MaxMatrixPlaces² cells, the reports of a 1,000-pod
	// full mesh ~50 MiB.
	matrix := BuildMatrix(in)
	c.mu.Lock()
	if _, known := c.next[key]; !known {
		c.mu.Unlock()
		return
	}
	// Under c.mu, so forgetAllBut cannot drop the series between the check
	// and the write.
	record(key, r)
	old, had := c.latest[key]
	c.latest[key], c.matrices[key] = r, matrix
	close(c.roundDone)
	c.roundDone = make(chan struct{})
	c.mu.Unlock()
	if !had || !reflect.DeepEqual(old, r) {
		select {
		case c.Changed <- event.TypedGenericEvent[*v1alpha1.PeerGroup]{Object: pg}:
		default:
		}
	}
}

// RoundDeadline bounds a round: pods that time out (a dead node's) leave
// the others' reports on time; those not heard from by then are unreported.
func RoundDeadline(interval time.Duration) time.Duration { return interval / 2 }

// Round fetches every counting pod's /links.
func (c *Collector) Round(ctx context.Context, pg *v1alpha1.PeerGroup, now time.Time) (Input, error) {
	// Read-only: no deep copies of the cache's pods.
	replicaSets, members, err := peersapi.ListMembers(ctx, c.Reader, pg, client.UnsafeDisableDeepCopy)
	if err != nil {
		return Input{}, err
	}
	var snap *peersapi.Snapshot
	if c.Snapshots != nil {
		snap = c.Snapshots(ctx, client.ObjectKeyFromObject(pg))
	}
	if snap == nil {
		snap = peersapi.Build(pg, replicaSets, members)
	}
	in := Input{Expected: map[string][]string{}, Reports: map[string]Report{}}
	zones := map[string]string{}
	var fetch []*corev1.Pod
	for i := range members {
		p := &members[i]
		pod := Pod{Name: p.Name, Node: p.Spec.NodeName, Counts: counts(p, pg.Interval(), now)}
		if _, known := zones[pod.Node]; !known && pod.Node != "" {
			zones[pod.Node] = c.zoneOf(ctx, pod.Node)
		}
		pod.Zone = zones[pod.Node]
		in.Pods = append(in.Pods, pod)
		if !pod.Counts {
			continue
		}
		in.Expected[p.Name] = snap.View(p.Name).PeerNames()
		fetch = append(fetch, p)
	}
	// Reports keep the links to counting pods, named with the pods' own
	// strings: one copy of each name per group, not one per link.
	counting := make(map[string]string, len(fetch))
	for _, p := range fetch {
		counting[p.Name] = p.Name
	}
	keep := func(peer string) (string, bool) { name, ok := counting[peer]; return name, ok }
	timeout := min(2*time.Second, pg.Interval()/2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	mine := make(chan struct{}, MaxFetchesPerRound)
	for _, p := range fetch {
		address, ok := peersapi.Address(p, pg.ServerPort())
		if !ok {
			continue
		}
		if !acquire(ctx, mine) { // freed by this round's own fetches
			break // the round's deadline: the rest are unreported
		}
		if !acquire(ctx, c.fetches) {
			<-mine
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-c.fetches; <-mine; wg.Done() }()
			report, err := c.Fetch(ctx, address, timeout, keep)
			if err != nil {
				logf.FromContext(ctx).V(1).Info("pod did not report its links", "pod", p.Name, "error", err.Error())
				return
			}
			mu.Lock()
			in.Reports[p.Name] = report
			mu.Unlock()
		}()
	}
	wg.Wait()
	return in, nil
}

// acquire takes a slot of sem unless ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// counts: Ready, not terminating, and Ready for at least one interval (a
// new pod's pingers have not pinged it yet).
func counts(p *corev1.Pod, interval time.Duration, now time.Time) bool {
	if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && !now.Before(c.LastTransitionTime.Add(interval))
		}
	}
	return false
}

// zoneOf reads a node's zone label (metadata only: the operator caches no
// node specs).
func (c *Collector) zoneOf(ctx context.Context, node string) string {
	var m metav1.PartialObjectMetadata
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	if err := c.Reader.Get(ctx, types.NamespacedName{Name: node}, &m); err != nil {
		return ""
	}
	return m.Labels[corev1.LabelTopologyZone]
}

// Fetch gets one server's /links and reads it into a Report (see
// DecodeReport for keep): a bounded, valid body within the timeout, or an
// error (the pod is then unreported, not down).
func (c *Collector) Fetch(ctx context.Context, address string, timeout time.Duration, keep func(string) (string, bool)) (Report, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+address+peers.LinksPath, nil)
	if err != nil {
		return Report{}, err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return Report{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Report{}, fmt.Errorf("GET %s: %s", peers.LinksPath, resp.Status)
	}
	buf := bodies.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bodies.Put(buf) }()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, peers.MaxLinksBytes+1)); err != nil {
		return Report{}, err
	}
	return DecodeReport(buf.Bytes(), keep)
}

// bodies are the read buffers of /links answers, reused: a Report keeps
// nothing of its body, and reading each answer into a new buffer (grown by
// doubling to ~330 KB at 1,000 peers) was half of a full-mesh round's
// allocation.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}
