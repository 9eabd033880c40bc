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

// Notify says something of the group changed.
func (n *Notifier) Notify(key types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.get(key)
	w.version++
	close(w.changed)
	w.changed = make(chan struct{})
}

// Forget drops a deleted group once its waiters have been woken.
func (n *Notifier) Forget(key types.NamespacedName) {
	n.Notify(key)
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.groups, key)
}

// current returns the group's watch, its version and the channel closed at
// the next change. Taken before reading the cache, it cannot miss a change.
func (n *Notifier) current(key types.NamespacedName) (*watch, uint64, <-chan struct{}) {
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
