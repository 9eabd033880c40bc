package peersapi

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Notifier holds, for each group that exists and was asked about, its latest
// snapshot and the long-polls waiting on it. A change rebuilds the snapshot
// once and wakes only the waiters whose own view changed; the others stay
// parked at the cost of one comparison. Each group has its own lock: a
// group of 1,000 waiters being woken holds up no other group.
type Notifier struct {
	reader client.Reader // the manager's cache
	// progress is the highest resourceVersion the cache's informers have
	// reached (set by Watch): a replica whose cache is behind orders its
	// documents lower. Nil in tests without informers.
	progress func() uint64

	mu     sync.Mutex // guards groups and forgets only
	groups map[types.NamespacedName]*watch
	// forgets counts Forget calls: an entry made from a read that a Forget
	// overtook would outlive its deleted group.
	forgets uint64

	// testHookWaking, if set, runs in refresh before it compares views
	// (tests: the comparisons hold no lock another group needs).
	testHookWaking func()
}

type watch struct {
	key types.NamespacedName

	mu        sync.Mutex // guards what follows, but buildMu
	version   uint64     // moves on at every change of the group's inputs
	deletedRV uint64     // resourceVersion of the last input deleted: a document never orders below it
	waiters   map[*waiter]struct{}
	// refreshing: a goroutine is rebuilding the snapshot to wake waiters.
	refreshing  bool
	snap        *Snapshot // the last build
	snapVersion uint64
	gone        bool // forgotten: nothing parks here any more

	buildMu sync.Mutex // serialises builds: one per change, however many ask
}

// waiter is one parked long-poll: woken (wake closed) when the revision of
// self's view is no longer revision.
type waiter struct {
	self, revision string
	wake           chan struct{}
}

// NewNotifier returns an empty notifier reading groups from reader.
func NewNotifier(reader client.Reader) *Notifier {
	return &Notifier{reader: reader, groups: map[types.NamespacedName]*watch{}}
}

// entry is the group's watch, if it has one.
func (n *Notifier) entry(key types.NamespacedName) *watch {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.groups[key]
}

// Notify says an input of the group changed. A group nobody has asked about
// has no entry and nothing to do.
func (n *Notifier) Notify(key types.NamespacedName) { n.changed(key, 0) }

// NotifyDeleted says an input of the group (a pod, a ReplicaSet) was deleted
// at resourceVersion rv, so later documents order after it.
func (n *Notifier) NotifyDeleted(key types.NamespacedName, rv uint64) { n.changed(key, rv) }

func (n *Notifier) changed(key types.NamespacedName, deletedRV uint64) {
	w := n.entry(key)
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.version++
	w.deletedRV = max(w.deletedRV, deletedRV)
	if len(w.waiters) > 0 && !w.refreshing {
		w.refreshing = true
		go n.refresh(w)
	}
}

// refresh rebuilds the snapshot and wakes the waiters whose view changed,
// until the snapshot is current (changes during a build coalesce into one
// more build). The views are compared under no lock at all.
func (n *Notifier) refresh(w *watch) {
	for {
		snap, version, err := n.snapshotOf(context.Background(), w)
		w.mu.Lock()
		waiters := make([]*waiter, 0, len(w.waiters))
		for wt := range w.waiters {
			waiters = append(waiters, wt)
		}
		w.mu.Unlock()
		if n.testHookWaking != nil {
			n.testHookWaking()
		}
		var woken []*waiter
		for _, wt := range waiters {
			// A failed build wakes everyone: they answer 503 and retry.
			if err != nil || !snap.Found || snap.View(wt.self).Revision != wt.revision {
				woken = append(woken, wt)
			}
		}
		w.mu.Lock()
		for _, wt := range woken {
			if _, parked := w.waiters[wt]; parked { // not unparked or forgotten meanwhile
				close(wt.wake)
				delete(w.waiters, wt)
			}
		}
		if err != nil || version == w.version || len(w.waiters) == 0 {
			w.refreshing = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// Len is how many groups the notifier holds: only groups that exist and
// were asked about, so unknown names cost nothing that lasts.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.groups)
}

// Forget drops a deleted group, waking its waiters (they find it gone).
func (n *Notifier) Forget(key types.NamespacedName) {
	n.mu.Lock()
	w := n.groups[key]
	delete(n.groups, key)
	n.forgets++
	n.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.version++
	w.gone = true
	for wt := range w.waiters {
		close(wt.wake)
	}
	w.waiters = nil
}

// Snapshot is the group's current snapshot and its version (for park),
// built at most once per change. Only a group that exists in the cache gets
// an entry: any name can be asked for.
func (n *Notifier) Snapshot(ctx context.Context, key types.NamespacedName) (*Snapshot, uint64, error) {
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		w, forgets := n.groups[key], n.forgets
		n.mu.Unlock()
		if w != nil {
			return n.snapshotOf(ctx, w)
		}
		if err := n.reader.Get(ctx, key, &v1alpha1.PeerGroup{}); err != nil {
			if apierrors.IsNotFound(err) {
				return &Snapshot{}, 0, nil
			}
			return nil, 0, err
		}
		n.mu.Lock()
		if n.forgets != forgets && attempt < maxForgetRaces {
			// A group was forgotten since the read, maybe this one: an
			// entry made now could outlive it. Read it again.
			n.mu.Unlock()
			continue
		}
		if n.forgets != forgets { // groups keep going: answer without an entry
			n.mu.Unlock()
			snap, err := n.build(ctx, key)
			return snap, 0, err
		}
		if w = n.groups[key]; w == nil {
			w = &watch{key: key, waiters: map[*waiter]struct{}{}}
			n.groups[key] = w
		}
		n.mu.Unlock()
		return n.snapshotOf(ctx, w)
	}
}

// maxForgetRaces bounds the reads again of a group that Forget calls
// overtake (a mass deletion of groups).
const maxForgetRaces = 5

// Current is the snapshot of a group some poll has asked about (nil when
// none has): the one polls get, rebuilt if the group changed since. It
// makes no entry: a snapshot is first built, and ordered, when a server
// asks for it.
func (n *Notifier) Current(ctx context.Context, key types.NamespacedName) *Snapshot {
	w := n.entry(key)
	if w == nil {
		return nil
	}
	snap, _, err := n.snapshotOf(ctx, w)
	if err != nil || !snap.Found {
		return nil
	}
	return snap
}

func (n *Notifier) snapshotOf(ctx context.Context, w *watch) (*Snapshot, uint64, error) {
	w.mu.Lock()
	snap, current := w.snap, w.snapVersion == w.version
	version := w.version
	w.mu.Unlock()
	if snap != nil && current { // the common case: no change since the last build
		return snap, version, nil
	}
	w.buildMu.Lock()
	defer w.buildMu.Unlock()
	w.mu.Lock()
	version, deletedRV := w.version, w.deletedRV // read before the cache: a change during the build is not missed
	if w.snap != nil && w.snapVersion == version {
		snap := w.snap
		w.mu.Unlock()
		return snap, version, nil
	}
	w.mu.Unlock()
	snap, err := n.build(ctx, w.key)
	if err != nil {
		return nil, 0, err
	}
	snap.RaiseOrder(deletedRV)
	if n.progress != nil {
		snap.RaiseOrder(n.progress())
	}
	w.mu.Lock()
	w.snap, w.snapVersion = snap, version
	w.mu.Unlock()
	return snap, version, nil
}

func (n *Notifier) build(ctx context.Context, key types.NamespacedName) (*Snapshot, error) {
	var pg v1alpha1.PeerGroup
	if err := n.reader.Get(ctx, key, &pg); err != nil {
		if apierrors.IsNotFound(err) {
			return &Snapshot{}, nil
		}
		return nil, err
	}
	// Read-only: the snapshot copies what it keeps, so the cache's objects
	// need no deep copy (1,000 pods per change).
	replicaSets, members, err := ListMembers(ctx, n.reader, &pg, client.UnsafeDisableDeepCopy)
	if err != nil {
		return nil, err
	}
	return Build(&pg, replicaSets, members), nil
}

// park registers a long-poll for self's view at revision, taken from the
// snapshot of the given version. Its channel is closed when that view
// changes, at once if the group changed since that snapshot or is gone.
func (n *Notifier) park(key types.NamespacedName, self, revision string, version uint64) *waiter {
	wt := &waiter{self: self, revision: revision, wake: make(chan struct{})}
	w := n.entry(key)
	if w == nil {
		close(wt.wake)
		return wt
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone || w.version != version {
		close(wt.wake)
		return wt
	}
	w.waiters[wt] = struct{}{}
	return wt
}

// unpark removes a long-poll that ended without being woken.
func (n *Notifier) unpark(key types.NamespacedName, wt *waiter) {
	if w := n.entry(key); w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.waiters, wt)
	}
}
