package render

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var opts = Options{
	DefaultImage:      "simulated-peering/server:dev",
	PeersURL:          "http://peering-operator.peering-system.svc:8082",
	OperatorNamespace: "peering-system",
	OperatorLabels:    map[string]string{LabelName: "peering-operator"},
	PeersAPIPort:      8082,
}

func group(mutate func(*v1alpha1.PeerGroup)) *v1alpha1.PeerGroup {
	pg := &v1alpha1.PeerGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "peering-dev", UID: "0b4d5e2c-1111-2222-3333-444455556666"},
		Spec: v1alpha1.PeerGroupSpec{
			Replicas:     ptr.To[int32](3),
			PingInterval: &metav1.Duration{Duration: 10 * time.Second},
			PingTimeout:  &metav1.Duration{Duration: 2 * time.Second},
			Port:         8080,
		},
	}
	if mutate != nil {
		mutate(pg)
	}
	return pg
}

func golden(t *testing.T, name string, obj any) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./operator/internal/render -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", name, path, got)
	}
}

func TestGolden(t *testing.T) {
	withResources := group(func(pg *v1alpha1.PeerGroup) {
		pg.Spec.Image = "registry.example/peering/server:v1.2.3"
		pg.Spec.Port = 9000
		pg.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}
		pg.Spec.Metrics = &v1alpha1.MetricsSpec{Compat: "goldpinger"}
	})
	for _, tc := range []struct {
		name string
		obj  any
	}{
		{"replicaset", ReplicaSet(group(nil), opts)},
		{"replicaset-custom", ReplicaSet(withResources, opts)},
		{"service", Service(group(nil))},
		{"serviceaccount", ServiceAccount(group(nil))},
		{"networkpolicy", NetworkPolicy(group(nil), opts)},
	} {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, tc.obj) })
	}
}

// Only what is in the pod template rolls pods; the ping settings and the
// replica count reach running pods through the peers API.
func TestTemplateHash(t *testing.T) {
	base := ReplicaSet(group(nil), opts).Name
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.PeerGroup)
		rolls  bool
	}{
		{"replicas", func(pg *v1alpha1.PeerGroup) { pg.Spec.Replicas = ptr.To[int32](1) }, false},
		{"interval", func(pg *v1alpha1.PeerGroup) { pg.Spec.PingInterval = &metav1.Duration{Duration: time.Minute} }, false},
		{"timeout", func(pg *v1alpha1.PeerGroup) { pg.Spec.PingTimeout = &metav1.Duration{Duration: time.Second} }, false},
		{"fan-out", func(pg *v1alpha1.PeerGroup) { pg.Spec.MaxPeersPerPod = 5 }, false},
		{"image", func(pg *v1alpha1.PeerGroup) { pg.Spec.Image = "other:tag" }, true},
		{"port", func(pg *v1alpha1.PeerGroup) { pg.Spec.Port = 9090 }, true},
		{"resources", func(pg *v1alpha1.PeerGroup) {
			pg.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplicaSet(group(tc.mutate), opts).Name
			if rolled := got != base; rolled != tc.rolls {
				t.Fatalf("changing %s: ReplicaSet %s → %s, want rolled=%v", tc.name, base, got, tc.rolls)
			}
		})
	}
}

func TestResourcesAreGuaranteed(t *testing.T) {
	for _, in := range []*corev1.ResourceRequirements{
		nil,
		{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}, Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}},
	} {
		out := Resources(in)
		for name, q := range out.Requests {
			if l := out.Limits[name]; l.Cmp(q) != 0 {
				t.Errorf("Resources(%v): %s request %s, limit %s", in, name, q.String(), l.String())
			}
		}
	}
}
