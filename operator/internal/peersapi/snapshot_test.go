package peersapi

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

func pod(name, ip string, ready bool, port int32, deleting bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "100"}, Status: corev1.PodStatus{PodIP: ip},
		Spec: corev1.PodSpec{NodeName: "node-" + name}}
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

func group(fanOut int32) *v1alpha1.PeerGroup {
	return &v1alpha1.PeerGroup{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "dev", ResourceVersion: "7"},
		Spec: v1alpha1.PeerGroupSpec{PingInterval: &metav1.Duration{Duration: 10 * time.Second}, Port: 8080, MaxPeersPerPod: fanOut}}
}

func readyPods(n int) []corev1.Pod {
	out := make([]corev1.Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("mesh-7d9f-%05d", i), fmt.Sprintf("10.88.%d.%d", i/250, i%250), true, 0, false)
	}
	return out
}

// Only Ready pods with an IP that are not terminating are peers, at their
// own container port, with their node; the order is the newest input.
func TestBuild(t *testing.T) {
	list := []corev1.Pod{
		pod("c", "10.0.0.3", true, 9090, false), // old template, old port
		pod("a", "10.0.0.1", true, 0, false),
		pod("b", "10.0.0.2", false, 0, false),
		pod("d", "", true, 0, false),
		pod("e", "10.0.0.5", true, 0, true),
	}
	list[3].ResourceVersion = "123"
	doc := Build(group(0), nil, list).View("a").Document()
	want := []peers.Peer{{Name: "a", Address: "10.0.0.1:8080", Node: "node-a"}, {Name: "c", Address: "10.0.0.3:9090", Node: "node-c"}}
	if !slices.Equal(doc.Peers, want) {
		t.Fatalf("peers = %v, want %v (the full mesh lists self too)", doc.Peers, want)
	}
	if err := doc.Validate(); err != nil || doc.Group != "dev/mesh" || doc.PingTimeout.Duration != 2*time.Second || doc.Order != 123 {
		t.Fatalf("doc %+v: %v", doc, err)
	}
}

// A revision is the hash of one pod's view: the same for the same view
// (whoever builds it), different for any other. In a full mesh every pod
// has one view; with a fan-out, a pod leaving changes only the revisions of
// the pods whose list held it.
func TestRevisionFollowsTheView(t *testing.T) {
	list := readyPods(6)
	full := Build(group(0), nil, list)
	if full.View("mesh-7d9f-00000").Revision != full.View("mesh-7d9f-00003").Revision {
		t.Fatal("a full mesh has one view")
	}
	slower := group(0)
	slower.Spec.PingInterval.Duration = time.Minute
	for name, other := range map[string]*Snapshot{
		"another interval": Build(slower, nil, list),
		"a pod fewer":      Build(group(0), nil, list[1:]),
		"a fan-out":        Build(group(2), nil, list),
	} {
		if other.View("mesh-7d9f-00001").Revision == full.View("mesh-7d9f-00001").Revision {
			t.Errorf("%s: same revision", name)
		}
	}
	if Build(group(0), nil, list).View("x").Revision != full.View("x").Revision {
		t.Error("not stable across builds")
	}

	list = readyPods(50)
	before := Build(group(3), nil, list)
	after := Build(group(3), nil, slices.Delete(slices.Clone(list), 20, 21))
	changed := 0
	for _, p := range list {
		b, a := before.View(p.Name), after.View(p.Name)
		if sameView := slices.Equal(b.Document().Peers, a.Document().Peers); sameView != (b.Revision == a.Revision) {
			t.Fatalf("%s: view unchanged %v but revision %s → %s", p.Name, sameView, b.Revision, a.Revision)
		}
		if b.Revision != a.Revision {
			changed++
		}
	}
	if changed != 3 {
		t.Fatalf("%d revisions changed, want the 3 pods that pinged the one that left", changed)
	}
}

// The bytes assembled from pre-encoded entries are the document, gzipped
// or not, and the full mesh is encoded once.
func TestBodyIsTheDocument(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fanOut int32
		pods   int
		gzip   bool
	}{
		{"full mesh, small", 0, 3, false},
		{"full mesh, large, gzip", 0, 200, true},
		{"full mesh, large, no gzip", 0, 200, false},
		{"fan-out", 2, 5, true},
		{"large fan-out, gzip", 150, 200, true},
		{"no peers", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			view := Build(group(tc.fanOut), nil, readyPods(tc.pods)).View("mesh-7d9f-00001")
			body, gzipped := view.Body(tc.gzip)
			if wantGzip := tc.gzip && len(view.Document().Peers) > 50; gzipped != wantGzip {
				t.Fatalf("gzipped %v, want %v", gzipped, wantGzip)
			}
			if gzipped {
				r, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(r); err != nil {
					t.Fatal(err)
				}
			}
			got, err := peers.Decode(body)
			if err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			want := view.Document()
			if got.Revision != want.Revision || got.Order != want.Order || got.Group != want.Group ||
				got.PingInterval != want.PingInterval || !slices.Equal(got.Peers, want.Peers) {
				t.Fatalf("body %+v, want %+v", got, want)
			}
			if again, _ := view.Body(tc.gzip); view.indices == nil && &again[0] != &body[0] && !gzipped {
				t.Fatal("the full-mesh document was encoded twice")
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"deflate, gzip;q=1.0": true,
		"GZIP":                true,
		"gzip;q=0":            false,
		"br, gzip; q=0.5":     true,
		"identity":            false,
		"x-gzip":              false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// Only updates that can change a document get past the informer filter.
func TestPodInputsChanged(t *testing.T) {
	base := pod("a", "10.0.0.1", true, 0, false)
	for _, tc := range []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{"status write that changes nothing read", func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning; p.ResourceVersion = "101" }, false},
		{"annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{"x": "y"} }, false},
		{"not ready", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"new IP", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.9" }, true},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }, true},
		{"another node", func(p *corev1.Pod) { p.Spec.NodeName = "node-z" }, true},
		{"a label", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x"} }, true},
		{"another controller", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{UID: "u2", Controller: ptr.To(true)}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := base.DeepCopy()
			changed.Status.Conditions = slices.Clone(base.Status.Conditions)
			tc.change(changed)
			if got := podInputsChanged(&base, changed); got != tc.want {
				t.Fatalf("podInputsChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// The largest group mid-roll (1,000 replicas and a surge of a quarter, all
// Ready) still makes a document every server accepts.
func TestTheLargestGroupMidRollIsValid(t *testing.T) {
	doc := Build(group(0), nil, readyPods(1250)).View("mesh-7d9f-00000").Document()
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
}
