package gitops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Every environment renders, passes the API server's validation, and sets
// what it promises.
func TestOverlays(t *testing.T) {
	for _, tc := range []struct {
		env              string
		replicas, fanOut int64
		interval         string
	}{
		{"dev", 3, 0, "10s"},
		{"staging", 5, 0, "30s"},
		{"prod", 10, 5, "60s"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			objs, err := validate(diskFS(), tc.env, path("overlays", tc.env))
			if err != nil {
				t.Fatal(err)
			}
			ns := find(objs, "Namespace")
			if len(ns) != 1 || ns[0].GetName() != "peering-"+tc.env || ns[0].GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Fatalf("overlay %s: want one restricted namespace peering-%s, got %v", tc.env, tc.env, ns)
			}
			groups := find(objs, "PeerGroup")
			if len(groups) != 1 {
				t.Fatalf("overlay %s: %d PeerGroups", tc.env, len(groups))
			}
			pg := groups[0]
			replicas, _, _ := unstructured.NestedInt64(pg.Object, "spec", "replicas")
			fanOut, _, _ := unstructured.NestedInt64(pg.Object, "spec", "maxPeersPerPod")
			interval, _, _ := unstructured.NestedString(pg.Object, "spec", "pingInterval")
			requests, _, _ := unstructured.NestedStringMap(pg.Object, "spec", "resources", "requests")
			limits, _, _ := unstructured.NestedStringMap(pg.Object, "spec", "resources", "limits")
			if pg.GetNamespace() != "peering-"+tc.env || replicas != tc.replicas || fanOut != tc.fanOut || interval != tc.interval {
				t.Fatalf("overlay %s: PeerGroup %s/%s replicas=%d maxPeersPerPod=%d pingInterval=%s, want replicas=%d maxPeersPerPod=%d pingInterval=%s",
					tc.env, pg.GetNamespace(), pg.GetName(), replicas, fanOut, interval, tc.replicas, tc.fanOut, tc.interval)
			}
			if len(requests) == 0 || !equalMaps(requests, limits) {
				t.Fatalf("overlay %s: resources requests %v != limits %v (want QoS Guaranteed)", tc.env, requests, limits)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The operator's own manifests render and are accepted.
func TestConfigDefault(t *testing.T) {
	objs, err := validate(diskFS(), "config/default", path("config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if ns := o.GetNamespace(); ns != "" && ns != "peering-system" {
			t.Errorf("%s %s in namespace %s, want peering-system", o.GetKind(), o.GetName(), ns)
		}
	}
	for _, k := range []string{"CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service", "NetworkPolicy"} {
		if kinds[k] == 0 {
			t.Errorf("config/default has no %s", k)
		}
	}
	deploy := find(objs, "Deployment")[0]
	container, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	c := container[0].(map[string]any)
	requests, _, _ := unstructured.NestedStringMap(c, "resources", "requests")
	limits, _, _ := unstructured.NestedStringMap(c, "resources", "limits")
	readOnly, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem")
	if !equalMaps(requests, limits) || !readOnly {
		t.Errorf("operator container: requests %v limits %v readOnlyRootFilesystem %v", requests, limits, readOnly)
	}
}

// A broken overlay fails with the overlay's name and the CRD's message.
func TestBrokenOverlayIsNamed(t *testing.T) {
	fs := filesys.MakeFsInMemory()
	for _, dir := range []string{"config/peergroup", "overlays/dev"} {
		entries, err := os.ReadDir(path(dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(path(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if dir == "overlays/dev" && e.Name() == "kustomization.yaml" {
				b = []byte(strings.Replace(string(b), "pingInterval: 10s", "pingInterval: 10s\n        pingTimeout: 30s", 1))
			}
			if err := fs.WriteFile(filepath.Join("/repo", dir, e.Name()), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := validate(fs, "broken-dev", "/repo/overlays/dev")
	if err == nil {
		t.Fatal("a PeerGroup with pingTimeout > pingInterval was accepted")
	}
	for _, want := range []string{"overlay broken-dev", "PeerGroup peering-dev/mesh", "pingTimeout must be shorter than pingInterval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
