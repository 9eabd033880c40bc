package peersapi

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Notifier wakes long-polls when a group's inputs change in the cache. It
// also memoizes each group's document per change, so a thousand waiting
// clients woken at once compute it once.
type Notifier struct {
	mu     sync.Mutex
	groups map[types.NamespacedName]*watch
}

type watch struct {
	version uint64
	changed chan struct{} // closed when version moves on

	mu        sync.Mutex // serialises building the memo
	memo      *Group
	memoVer   uint64
	memoFound bool
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier {
	return &Notifier{groups: map[types.NamespacedName]*watch{}}
}

func (n *Notifier) get(key types.NamespacedName) *watch {
	w, ok := n.groups[key]
	if !ok {
		w = &watch{changed: make(chan struct{})}
		n.groups[key] = w
	}
	return w
}

// Notify says something of the group changed. A group nobody has asked
// about has no entry and nothing to wake.
func (n *Notifier) Notify(key types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w, ok := n.groups[key]
	if !ok {
		return
	}
	w.version++
	close(w.changed)
	w.changed = make(chan struct{})
}

// Len is how many groups the notifier holds: only groups that exist and
// were asked about, so unknown names cost nothing that lasts.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.groups)
}

// Forget drops a deleted group once its waiters have been woken.
func (n *Notifier) Forget(key types.NamespacedName) {
	n.Notify(key)
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.groups, key)
}

// current returns the group's watch, its version and the channel closed at
// the next change, and false when the group has no entry yet. Taken before
// reading the cache, it cannot miss a change.
func (n *Notifier) current(key types.NamespacedName) (*watch, uint64, <-chan struct{}, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w, ok := n.groups[key]
	if !ok {
		return nil, 0, nil, false
	}
	return w, w.version, w.changed, true
}

// register makes an entry for a group that exists, and returns it as current does.
func (n *Notifier) register(key types.NamespacedName) (*watch, uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.get(key)
	return w, w.version, w.changed
}

// memoized returns build's result for this version, building it at most once.
func (w *watch) memoized(version uint64, build func() (*Group, bool, error)) (*Group, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.memo != nil && w.memoVer == version {
		return w.memo, w.memoFound, nil
	}
	g, found, err := build()
	if err != nil {
		return nil, false, err
	}
	w.memo, w.memoVer, w.memoFound = g, version, found
	return g, found, nil
}
