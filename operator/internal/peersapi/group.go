package peersapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
)

// Group is what the peers API knows of one PeerGroup: the document with
// every ready peer, before self-exclusion and fan-out.
type Group struct {
	Doc      peers.Document
	MaxPeers int

	ring Ring // Doc.Peers on the ring, built once per change
}

// Build computes a group's document from the PeerGroup and its pods. Peers
// are the pods that are Ready, have an IP and are not terminating, at the port
// their own container declares (so pods of an old template keep theirs while
// a port change rolls out). The revision hashes everything else.
func Build(pg *v1alpha1.PeerGroup, pods []corev1.Pod) Group {
	doc := peers.Document{
		Group:        pg.Namespace + "/" + pg.Name,
		PingInterval: peers.Duration{Duration: pg.Interval()},
		PingTimeout:  peers.Duration{Duration: pg.Timeout()},
		Peers:        []peers.Peer{},
	}
	for i := range pods {
		if address, ok := Address(&pods[i], pg.ServerPort()); ok {
			doc.Peers = append(doc.Peers, peers.Peer{Name: pods[i].Name, Address: address})
		}
	}
	slices.SortFunc(doc.Peers, func(a, b peers.Peer) int { return strings.Compare(a.Name, b.Name) })
	g := Group{Doc: doc, MaxPeers: int(pg.Spec.MaxPeersPerPod)}
	if g.MaxPeers > 0 {
		g.ring = NewRing(doc.Peers)
	}
	b, _ := json.Marshal(struct {
		Doc peers.Document
		Max int
	}{doc, g.MaxPeers})
	sum := sha256.Sum256(b)
	g.Doc.Revision = hex.EncodeToString(sum[:6])
	return g
}

// ListMembers reads the group's ReplicaSets (every one carrying its labels,
// whoever controls it) and its member pods from r.
func ListMembers(ctx context.Context, r client.Reader, pg *v1alpha1.PeerGroup) ([]appsv1.ReplicaSet, []corev1.Pod, error) {
	selector := []client.ListOption{client.InNamespace(pg.Namespace), client.MatchingLabels(render.SelectorLabels(pg))}
	var replicaSets appsv1.ReplicaSetList
	if err := r.List(ctx, &replicaSets, selector...); err != nil {
		return nil, nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, selector...); err != nil {
		return nil, nil, fmt.Errorf("listing pods: %w", err)
	}
	return replicaSets.Items, Members(pg, replicaSets.Items, pods.Items), nil
}

// Members are the group's pods: those controlled by a ReplicaSet the group
// controls. A pod that merely copies the labels (a debug pod) is not one.
func Members(pg *v1alpha1.PeerGroup, replicaSets []appsv1.ReplicaSet, pods []corev1.Pod) []corev1.Pod {
	ours := map[types.UID]bool{}
	for i := range replicaSets {
		if metav1.IsControlledBy(&replicaSets[i], pg) {
			ours[replicaSets[i].UID] = true
		}
	}
	members := make([]corev1.Pod, 0, len(pods))
	for _, pod := range pods {
		if ref := metav1.GetControllerOf(&pod); ref != nil && ours[ref.UID] {
			members = append(members, pod)
		}
	}
	return members
}

// Address is a pod's ping address if it can be a peer.
func Address(pod *corev1.Pod, defaultPort int32) (string, bool) {
	if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !IsReady(pod) {
		return "", false
	}
	port := defaultPort
	for _, c := range pod.Spec.Containers {
		if c.Name != render.ContainerName {
			continue
		}
		for _, p := range c.Ports {
			port = p.ContainerPort
		}
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(port))), true
}

// IsReady reports the pod's Ready condition.
func IsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// View is the document one pod receives: itself left out and, with
// maxPeersPerPod k, the k pods after it on the ring.
func (g Group) View(self string) peers.Document {
	doc := g.Doc
	others := len(doc.Peers)
	if _, listed := slices.BinarySearchFunc(doc.Peers, self, func(p peers.Peer, name string) int { return strings.Compare(p.Name, name) }); listed {
		others--
	}
	if g.MaxPeers <= 0 || g.MaxPeers >= others {
		// Everyone else: Doc.Peers is already sorted by name.
		doc.Peers = slices.DeleteFunc(slices.Clone(doc.Peers), func(p peers.Peer) bool { return p.Name == self })
		return doc
	}
	ring := g.ring
	if ring == nil {
		ring = NewRing(g.Doc.Peers)
	}
	doc.Peers = ring.Successors(self, g.MaxPeers)
	return doc
}
