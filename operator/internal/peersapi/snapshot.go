package peersapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Snapshot is one group at one change, built once and shared by every
// request until the next change: its peers are encoded once, and each pod's
// view and revision are cut from them without re-encoding.
type Snapshot struct {
	Found    bool   // false: the PeerGroup is gone
	Order    uint64 // highest resourceVersion among the inputs
	MaxPeers int

	head     peers.Document // group and settings, no peers
	peers    []peers.Peer   // sorted by name
	entries  [][]byte       // peers[i] as JSON
	sums     []sum          // peers[i]'s hash
	settings sum            // the hash of head's fields
	fullRev  sum            // settings plus every peer
	ring     Ring           // only with a fan-out

	full struct { // the full-mesh document, encoded (and gzipped) at most once
		once, gzOnce sync.Once
		body, gz     []byte
	}
}

// sum is a 128-bit hash that adds up: a view's revision is the sum of its
// settings' and its peers' hashes, so it costs one addition per peer and
// does not depend on the order the peers are added in.
type sum struct{ hi, lo uint64 }

func (s sum) plus(t sum) sum { return sum{s.hi + t.hi, s.lo + t.lo} }

func hashOf(b []byte) sum {
	h := sha256.Sum256(b)
	return sum{binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])}
}

func (s sum) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.hi)
	binary.BigEndian.PutUint64(b[8:], s.lo)
	return hex.EncodeToString(b[:12])
}

// Build computes a group's snapshot from the PeerGroup, its ReplicaSets and
// its member pods. Peers are the pods that are Ready, have an IP and are not
// terminating, at the port their own container declares (so pods of an old
// template keep theirs while a port change rolls out).
func Build(pg *v1alpha1.PeerGroup, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod) *Snapshot {
	s := &Snapshot{
		Found:    true,
		Order:    resourceVersion(pg),
		MaxPeers: int(pg.Spec.MaxPeersPerPod),
		head: peers.Document{
			Group:        pg.Namespace + "/" + pg.Name,
			PingInterval: peers.Duration{Duration: pg.Interval()},
			PingTimeout:  peers.Duration{Duration: pg.Timeout()},
			Peers:        []peers.Peer{},
		},
	}
	for i := range replicaSets {
		s.Order = max(s.Order, resourceVersion(&replicaSets[i]))
	}
	for i := range pods {
		s.Order = max(s.Order, resourceVersion(&pods[i]))
		if address, ok := Address(&pods[i], pg.ServerPort()); ok {
			s.peers = append(s.peers, peers.Peer{Name: pods[i].Name, Address: address, Node: pods[i].Spec.NodeName})
		}
	}
	slices.SortFunc(s.peers, func(a, b peers.Peer) int { return strings.Compare(a.Name, b.Name) })
	s.entries, s.sums = make([][]byte, len(s.peers)), make([]sum, len(s.peers))
	names := make([]string, len(s.peers))
	for i, p := range s.peers {
		s.entries[i], _ = json.Marshal(p)
		s.sums[i] = hashOf(s.entries[i])
		names[i] = p.Name
	}
	settings, _ := json.Marshal(s.head)
	s.settings = hashOf(settings)
	s.fullRev = s.settings
	for _, h := range s.sums {
		s.fullRev = s.fullRev.plus(h)
	}
	if s.MaxPeers > 0 {
		s.ring = NewRing(names)
	}
	return s
}

// resourceVersion reads an object's resourceVersion as a number (etcd's
// revision); 0 if it is not one.
func resourceVersion(o client.Object) uint64 {
	n, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
	return n
}

// Peers is every peer of the group, sorted by name.
func (s *Snapshot) Peers() []peers.Peer { return s.peers }

// View is what one pod receives.
type View struct {
	Revision string
	indices  []int // nil: the full-mesh document
	snap     *Snapshot
}

// View is self's view: with a fan-out k smaller than the other peers, the k
// pods after self on the ring (never self); otherwise the full-mesh
// document, the same for every pod and listing every peer, self included
// (a server leaves itself out), so its bytes are shared by the whole group.
func (s *Snapshot) View(self string) View {
	if s.ring != nil {
		_, listed := slices.BinarySearchFunc(s.peers, self, func(p peers.Peer, name string) int { return strings.Compare(p.Name, name) })
		others := len(s.peers)
		if listed {
			others--
		}
		if s.MaxPeers < others {
			indices := s.ring.Successors(self, s.MaxPeers)
			rev := s.settings
			for _, i := range indices {
				rev = rev.plus(s.sums[i])
			}
			return View{Revision: rev.String(), indices: indices, snap: s}
		}
	}
	return View{Revision: s.fullRev.String(), snap: s}
}

// Document is the view decoded, for tests and the controller.
func (v View) Document() peers.Document {
	doc := v.snap.head
	doc.Revision, doc.Order = v.Revision, v.snap.Order
	if v.indices == nil {
		doc.Peers = slices.Clone(v.snap.peers)
	} else {
		for _, i := range v.indices {
			doc.Peers = append(doc.Peers, v.snap.peers[i])
		}
	}
	return doc
}

// Body is the view's JSON, and whether it is gzipped: large answers are,
// when the client accepts it. The full-mesh document is encoded and
// compressed once per snapshot.
func (v View) Body(acceptGzip bool) ([]byte, bool) {
	s := v.snap
	if v.indices != nil {
		body := s.encode(v.Revision, v.indices)
		if acceptGzip && len(body) >= gzipAtLeast {
			return compress(body), true
		}
		return body, false
	}
	s.full.once.Do(func() { s.full.body = s.encode(v.Revision, nil) })
	if !acceptGzip || len(s.full.body) < gzipAtLeast {
		return s.full.body, false
	}
	s.full.gzOnce.Do(func() { s.full.gz = compress(s.full.body) })
	return s.full.gz, true
}

// gzipAtLeast: smaller answers (a fan-out of 10 is ~0.8 KiB) are not worth
// compressing.
const gzipAtLeast = 4 << 10

// encode writes the document with the given peers (nil: all) from the
// pre-encoded entries.
func (s *Snapshot) encode(revision string, indices []int) []byte {
	head := s.head
	head.Revision, head.Order = revision, s.Order
	b, _ := json.Marshal(head) // ends with "peers":[]}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-2])
	write := func(n int, entry []byte) {
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(entry)
	}
	if indices == nil {
		for n, e := range s.entries {
			write(n, e)
		}
	} else {
		for n, i := range indices {
			write(n, s.entries[i])
		}
	}
	buf.WriteString("]}\n")
	return buf.Bytes()
}

var gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

func compress(body []byte) []byte {
	var buf bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&buf)
	w.Write(body)
	w.Close()
	gzipWriters.Put(w)
	return buf.Bytes()
}
