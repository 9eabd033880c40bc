package peersapi

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
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
// request until the next change. Its peers are encoded (and, in chunks,
// compressed) once; each pod's view, revision and gzipped answer are cut
// from those bytes without encoding the peers again.
type Snapshot struct {
	Found    bool   // false: the PeerGroup is gone
	Order    uint64 // how far the cache had got (see Notifier)
	MaxPeers int

	group    string
	interval peers.Duration
	timeout  peers.Duration
	peers    []peers.Peer // sorted by name
	sums     []sum        // peers[i]'s hash
	settings sum          // the hash of the group and its settings
	allSum   sum          // settings plus every peer
	ring     Ring         // only with a fan-out

	// The document is head + entries + `],"revision":"…"}` + "\n".
	head []byte // {"group":…,"order":…,"pingInterval":…,"pingTimeout":…,"peers":[
	// all holds every peer's JSON, each but the first led by a comma;
	// peer i is all[offsets[i]:offsets[i+1]].
	all     []byte
	offsets []int

	gzipOnce sync.Once
	gzHead   []byte   // head, deflated
	gzChunks [][]byte // all, deflated chunkSize peers at a time
}

// sum is a 128-bit hash that adds up: a view's revision is the sum of its
// settings' and its peers' hashes, so a full mesh's views cost one
// subtraction each and the order peers are added in does not matter.
type sum struct{ hi, lo uint64 }

func (s sum) plus(t sum) sum  { return sum{s.hi + t.hi, s.lo + t.lo} }
func (s sum) minus(t sum) sum { return sum{s.hi - t.hi, s.lo - t.lo} }

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
// template keep theirs while a port change rolls out), with their node.
func Build(pg *v1alpha1.PeerGroup, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod) *Snapshot {
	s := &Snapshot{Found: true, Order: resourceVersion(pg), MaxPeers: int(pg.Spec.MaxPeersPerPod), group: pg.Namespace + "/" + pg.Name,
		interval: peers.Duration{Duration: pg.Interval()}, timeout: peers.Duration{Duration: pg.Timeout()}}
	for i := range replicaSets {
		s.Order = max(s.Order, resourceVersion(&replicaSets[i]))
	}
	for i := range pods {
		s.Order = max(s.Order, resourceVersion(&pods[i]))
		if address, ok := Address(&pods[i], pg.ServerPort()); ok {
			s.peers = append(s.peers, peers.Peer{Name: pods[i].Name, Address: address, Node: pods[i].Spec.NodeName, HostIP: pods[i].Status.HostIP})
		}
	}
	slices.SortFunc(s.peers, func(a, b peers.Peer) int { return strings.Compare(a.Name, b.Name) })

	s.settings = hashOf([]byte(s.group + "\x00" + s.interval.String() + "\x00" + s.timeout.String()))
	s.allSum = s.settings

	s.sums, s.offsets = make([]sum, len(s.peers)), make([]int, 0, len(s.peers)+1)
	names := make([]string, len(s.peers))
	for i, p := range s.peers {
		entry, _ := json.Marshal(p)
		s.sums[i] = hashOf(entry)
		s.allSum = s.allSum.plus(s.sums[i])
		s.offsets = append(s.offsets, len(s.all))
		if i > 0 {
			s.all = append(s.all, ',')
		}
		s.all = append(s.all, entry...)
		names[i] = p.Name
	}
	s.offsets = append(s.offsets, len(s.all))
	if s.MaxPeers > 0 {
		s.ring = NewRing(names)
	}
	s.RaiseOrder(s.Order)
	return s
}

// RaiseOrder sets the order to at least o (the notifier knows how far the
// cache has got) and writes the head, which carries it. The revision goes
// last in the document, since it differs per view.
func (s *Snapshot) RaiseOrder(o uint64) {
	s.Order = max(s.Order, o)
	group, _ := json.Marshal(s.group)
	interval, _ := s.interval.MarshalJSON()
	timeout, _ := s.timeout.MarshalJSON()
	s.head = slices.Concat([]byte(`{"group":`), group, []byte(`,"order":`+strconv.FormatUint(s.Order, 10)+`,"pingInterval":`),
		interval, []byte(`,"pingTimeout":`), timeout, []byte(`,"peers":[`))
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
	snap     *Snapshot
	self     int   // full mesh: the index of the asking pod, -1 if it is not listed
	indices  []int // fan-out: the peers listed; nil in a full mesh
}

// View is self's view, itself left out: with a fan-out k smaller than the
// other peers, the k pods after self on the ring; otherwise every other peer.
func (s *Snapshot) View(self string) View {
	i, listed := slices.BinarySearchFunc(s.peers, self, func(p peers.Peer, name string) int { return strings.Compare(p.Name, name) })
	others := len(s.peers)
	if !listed {
		i = -1
	} else {
		others--
	}
	if s.ring != nil && s.MaxPeers < others {
		indices := s.ring.Successors(self, s.MaxPeers)
		rev := s.settings
		for _, j := range indices {
			rev = rev.plus(s.sums[j])
		}
		return View{Revision: rev.String(), snap: s, self: -1, indices: indices}
	}
	rev := s.allSum
	if i >= 0 {
		rev = rev.minus(s.sums[i])
	}
	return View{Revision: rev.String(), snap: s, self: i}
}

// PeerNames are the names the view lists, without encoding anything.
func (v View) PeerNames() []string {
	if v.indices != nil {
		out := make([]string, 0, len(v.indices))
		for _, i := range v.indices {
			out = append(out, v.snap.peers[i].Name)
		}
		return out
	}
	out := make([]string, 0, len(v.snap.peers))
	for i, p := range v.snap.peers {
		if i != v.self {
			out = append(out, p.Name)
		}
	}
	return out
}

// Document is the view decoded, for tests.
func (v View) Document() peers.Document {
	doc, err := peers.Decode(bytes.Join(v.parts(), nil))
	if err != nil {
		panic("a snapshot encoded an invalid document: " + err.Error())
	}
	return doc
}

// parts are the view's uncompressed bytes, in order, mostly slices of the
// snapshot's shared buffers.
func (v View) parts() [][]byte {
	s := v.snap
	out := [][]byte{s.head}
	if v.indices != nil {
		for n, i := range v.indices {
			out = append(out, s.entry(i, n == 0))
		}
	} else if v.self < 0 {
		out = append(out, s.all)
	} else {
		out = append(out, s.all[:s.offsets[v.self]])
		rest := s.all[s.offsets[v.self+1]:]
		if v.self == 0 && len(rest) > 0 {
			rest = rest[1:] // the new first peer loses its comma
		}
		out = append(out, rest)
	}
	return append(out, v.tail())
}

// entry is peer i's JSON, led by a comma unless it comes first.
func (s *Snapshot) entry(i int, first bool) []byte {
	e := s.all[s.offsets[i]:s.offsets[i+1]]
	if i > 0 && first {
		return e[1:]
	}
	if i == 0 && !first {
		return append([]byte{','}, e...)
	}
	return e
}

func (v View) tail() []byte { return []byte(`],"revision":"` + v.Revision + `"}` + "\n") }

// Body is the view as the parts of an HTTP body, their length, and whether
// they are gzipped: answers of gzipAtLeast bytes or more are, when the
// client accepts it.
func (v View) Body(acceptGzip bool) (parts [][]byte, length int, gzipped bool) {
	parts = v.parts()
	for _, p := range parts {
		length += len(p)
	}
	if !acceptGzip || length < gzipAtLeast {
		return parts, length, false
	}
	if v.indices != nil { // a large fan-out: its own peers, compressed whole
		gz := gzipParts(nil, parts, length)
		return [][]byte{gz}, len(gz), true
	}
	return v.gzipFullMesh(parts, length)
}

// gzipAtLeast: smaller answers (a fan-out of 10 is ~0.8 KiB) are not worth
// compressing.
const gzipAtLeast = 4 << 10

// chunkSize peers are deflated together. A full-mesh view is the shared
// compressed chunks, with only the chunk holding the asking pod (and the
// few bytes around the peers) compressed per request.
const chunkSize = 32

// gzipFullMesh assembles a gzip stream from independently deflated pieces:
// each piece ends on a byte boundary (a sync flush) and refers to nothing
// before it, so the pieces can be concatenated and closed with one final
// empty block; the trailer's CRC is computed over the uncompressed parts.
func (v View) gzipFullMesh(parts [][]byte, length int) ([][]byte, int, bool) {
	s := v.snap
	s.gzipOnce.Do(func() {
		s.gzHead = deflate(nil, s.head)
		for start := 0; start < len(s.peers); start += chunkSize {
			end := min(start+chunkSize, len(s.peers))
			s.gzChunks = append(s.gzChunks, deflate(nil, s.all[s.offsets[start]:s.offsets[end]]))
		}
	})
	out := [][]byte{gzipHeader, s.gzHead}
	selfChunk := -1
	if v.self >= 0 {
		selfChunk = v.self / chunkSize
	}
	for c, chunk := range s.gzChunks {
		if c != selfChunk {
			out = append(out, chunk)
			continue
		}
		// The asking pod's chunk, without it.
		start, end := c*chunkSize, min((c+1)*chunkSize, len(s.peers))
		var mine []byte
		for i := start; i < end; i++ {
			if i != v.self {
				mine = append(mine, s.entry(i, i == 0 || (v.self == 0 && i == 1))...)
			}
		}
		out = append(out, deflate(nil, mine))
	}
	out = append(out, deflate(nil, v.tail()), finalBlock, trailer(parts, length))
	n := 0
	for _, p := range out {
		n += len(p)
	}
	return out, n, true
}

// gzipHeader: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// finalBlock is an empty, final, fixed-Huffman deflate block.
var finalBlock = []byte{3, 0}

func trailer(parts [][]byte, length int) []byte {
	var crc uint32
	for _, p := range parts {
		crc = crc32.Update(crc, crc32.IEEETable, p)
	}
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, crc), uint32(length))
}

var deflaters = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}

// deflate appends b deflated on its own, sync-flushed (byte-aligned, not final).
func deflate(dst, b []byte) []byte {
	buf := bytes.NewBuffer(dst)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(buf)
	w.Write(b)
	w.Flush()
	deflaters.Put(w)
	return buf.Bytes()
}

// gzipParts is a whole gzip stream of parts.
func gzipParts(dst []byte, parts [][]byte, length int) []byte {
	dst = append(dst, gzipHeader...)
	buf := bytes.NewBuffer(dst)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(buf)
	for _, p := range parts {
		w.Write(p)
	}
	w.Flush()
	deflaters.Put(w)
	return append(append(buf.Bytes(), finalBlock...), trailer(parts, length)...)
}
