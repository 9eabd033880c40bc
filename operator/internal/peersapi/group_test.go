package peersapi

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

func pod(name, ip string, ready bool, port int32, deleting bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{PodIP: ip}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if port != 0 {
		p.Spec.Containers = []corev1.Container{{Name: "server", Ports: []corev1.ContainerPort{{ContainerPort: port}}}}
	}
	if deleting {
		p.DeletionTimestamp = ptr.To(metav1.Now())
	}
	return p
}

// Only Ready pods with an IP that are not terminating are peers, at their
// own container port; the revision follows every input.
func TestBuild(t *testing.T) {
	pg := &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "dev"},
		Spec: v1alpha1.PeerGroupSpec{PingInterval: &metav1.Duration{Duration: 10 * time.Second}, Port: 8080}}
	list := []corev1.Pod{
		pod("c", "10.0.0.3", true, 9090, false), // old template, old port
		pod("a", "10.0.0.1", true, 0, false),
		pod("b", "10.0.0.2", false, 0, false),
		pod("d", "", true, 0, false),
		pod("e", "10.0.0.5", true, 0, true),
	}
	g := Build(pg, list)
	want := []peers.Peer{{Name: "a", Address: "10.0.0.1:8080"}, {Name: "c", Address: "10.0.0.3:9090"}}
	if len(g.Doc.Peers) != 2 || g.Doc.Peers[0] != want[0] || g.Doc.Peers[1] != want[1] {
		t.Fatalf("peers = %v, want %v", g.Doc.Peers, want)
	}
	if err := g.View("a").Validate(); err != nil || g.Doc.Group != "dev/mesh" || g.Doc.PingTimeout.Duration != 2*time.Second {
		t.Fatalf("doc %+v: %v", g.Doc, err)
	}
	same := Build(pg, list)
	pg2 := pg.DeepCopy()
	pg2.Spec.MaxPeersPerPod = 1
	pg3 := pg.DeepCopy()
	pg3.Spec.PingInterval.Duration = time.Minute
	if same.Doc.Revision != g.Doc.Revision || Build(pg2, list).Doc.Revision == g.Doc.Revision ||
		Build(pg3, list).Doc.Revision == g.Doc.Revision || Build(pg, list[:1]).Doc.Revision == g.Doc.Revision {
		t.Fatal("revision must be stable for the same inputs and change with any of them")
	}
}
