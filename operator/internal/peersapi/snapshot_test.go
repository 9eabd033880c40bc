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
	if s := Build(group(0), nil, list); s.Order != 123 {
		t.Fatalf("order %d, want the newest input's 123", s.Order)
	}
	s := Build(group(0), nil, list)
	want := []peers.Peer{{Name: "a", Address: "10.0.0.1:8080", Node: "node-a"}, {Name: "c", Address: "10.0.0.3:9090", Node: "node-c"}}
	if !slices.Equal(s.Peers(), want) {
		t.Fatalf("peers = %v, want %v", s.Peers(), want)
	}
	doc := s.View("a").Document()
	if !slices.Equal(doc.Peers, want[1:]) {
		t.Fatalf("a's view = %v, want %v: itself left out", doc.Peers, want[1:])
	}
	if err := doc.Validate(); err != nil || doc.Group != "dev/mesh" || doc.PingTimeout.Duration != 2*time.Second {
		t.Fatalf("doc %+v: %v", doc, err)
	}
}

// A revision is the hash of one pod's view: the same for the same view
// (whoever builds it), different for any other. In a full mesh, a pod
// joining changes every other pod's view but not its own; with a fan-out, a
// pod leaving changes only the revisions of the pods whose list held it.
func TestRevisionFollowsTheView(t *testing.T) {
	list := readyPods(6)
	full := Build(group(0), nil, list)
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
	without := Build(group(0), nil, list[:5]) // mesh-7d9f-00005 not Ready yet
	for _, p := range list {
		before, after := without.View(p.Name), full.View(p.Name)
		sameView := slices.Equal(before.Document().Peers, after.Document().Peers)
		if sameView != (before.Revision == after.Revision) || sameView != (p.Name == "mesh-7d9f-00005") {
			t.Fatalf("%s: view unchanged %v, revision %s → %s", p.Name, sameView, before.Revision, after.Revision)
		}
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

// Every view's bytes, plain or gzipped (assembled from shared compressed
// chunks in a full mesh), are exactly the document: its own peers, itself
// left out, at every place the asking pod can have, chunk edges included.
func TestBodyIsTheDocument(t *testing.T) {
	for _, tc := range []struct {
		fanOut int32
		pods   int
		selves []int // -1: a pod that is not listed
	}{
		{0, 0, []int{-1}},
		{0, 1, []int{-1, 0}},
		{0, 3, []int{-1, 0, 1, 2}},
		{0, 65, []int{-1, 0, 1, 31, 32, 33, 63, 64}},
		{0, 200, []int{-1, 0, 100, 199}},
		{2, 5, []int{-1, 0, 4}},
		{150, 200, []int{-1, 0, 199}},
	} {
		list := readyPods(tc.pods)
		s := Build(group(tc.fanOut), nil, list)
		for _, self := range tc.selves {
			name := "not-listed"
			if self >= 0 {
				name = list[self].Name
			}
			t.Run(fmt.Sprintf("k=%d n=%d self=%d", tc.fanOut, tc.pods, self), func(t *testing.T) {
				view := s.View(name)
				want := slices.DeleteFunc(slices.Clone(s.Peers()), func(p peers.Peer) bool { return p.Name == name })
				if tc.fanOut > 0 && int(tc.fanOut) < len(want) {
					want = nil
					for _, i := range s.ring.Successors(name, int(tc.fanOut)) {
						want = append(want, s.Peers()[i])
					}
				}
				for _, acceptGzip := range []bool{false, true} {
					parts, length, gzipped := view.Body(acceptGzip)
					body := bytes.Join(parts, nil)
					if len(body) != length {
						t.Fatalf("length %d, body %d bytes", length, len(body))
					}
					if gzipped != (acceptGzip && len(want) > 50) {
						t.Fatalf("gzipped %v with %d peers", gzipped, len(want))
					}
					if gzipped {
						r, err := gzip.NewReader(bytes.NewReader(body))
						if err != nil {
							t.Fatal(err)
						}
						if body, err = io.ReadAll(r); err != nil { // checks the CRC and length too
							t.Fatal(err)
						}
					}
					doc, err := peers.Decode(body)
					if err != nil {
						t.Fatalf("%v: %s", err, body)
					}
					var names []string
					for _, p := range want {
						names = append(names, p.Name)
					}
					if !slices.Equal(view.PeerNames(), names) {
						t.Fatalf("PeerNames %v, want %v", view.PeerNames(), names)
					}
					if doc.Revision != view.Revision || doc.Order != s.Order || doc.Group != "dev/mesh" ||
						doc.PingInterval.Duration != 10*time.Second || !slices.Equal(doc.Peers, want) {
						t.Fatalf("gzip %v: got %+v, want peers %v", gzipped, doc, want)
					}
				}
			})
		}
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
