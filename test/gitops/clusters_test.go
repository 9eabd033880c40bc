package gitops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The Flux objects have the expected API versions and shape, and every path
// they name exists and builds.
func TestFluxClusters(t *testing.T) {
	for _, cluster := range []string{"dev", "prod"} {
		t.Run(cluster, func(t *testing.T) {
			objs, err := render(diskFS(), path("clusters", cluster))
			if err != nil {
				t.Fatal(err)
			}
			byKind := map[string][]*unstructured.Unstructured{}
			for _, o := range objs {
				byKind[o.GetObjectKind().GroupVersionKind().GroupKind().String()] = append(byKind[o.GetObjectKind().GroupVersionKind().GroupKind().String()], o)
				if o.GetNamespace() != "flux-system" {
					t.Errorf("%s %s not in flux-system", o.GetKind(), o.GetName())
				}
			}
			repos := byKind["GitRepository.source.toolkit.fluxcd.io"]
			if len(repos) != 1 || repos[0].GetAPIVersion() != "source.toolkit.fluxcd.io/v1" {
				t.Fatalf("want one source.toolkit.fluxcd.io/v1 GitRepository, got %v", repos)
			}
			ks := map[string]*unstructured.Unstructured{}
			for _, k := range byKind["Kustomization.kustomize.toolkit.fluxcd.io"] {
				if k.GetAPIVersion() != "kustomize.toolkit.fluxcd.io/v1" {
					t.Errorf("%s: apiVersion %s", k.GetName(), k.GetAPIVersion())
				}
				ks[k.GetName()] = k
				p, _, _ := unstructured.NestedString(k.Object, "spec", "path")
				src, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "name")
				wait, _, _ := unstructured.NestedBool(k.Object, "spec", "wait")
				prune, _, _ := unstructured.NestedBool(k.Object, "spec", "prune")
				interval, _, _ := unstructured.NestedString(k.Object, "spec", "interval")
				if src != repos[0].GetName() || !wait || !prune || interval == "" {
					t.Errorf("Kustomization %s: sourceRef %q wait %v prune %v interval %q", k.GetName(), src, wait, prune, interval)
				}
				if _, err := os.Stat(path(p, "kustomization.yaml")); err != nil {
					t.Errorf("Kustomization %s: path %s has no kustomization.yaml", k.GetName(), p)
				} else if _, err := render(diskFS(), path(p)); err != nil {
					t.Errorf("Kustomization %s: %v", k.GetName(), err)
				}
			}
			op, groups := ks["peering-operator"], ks["peergroups"]
			if op == nil || groups == nil {
				t.Fatalf("want Kustomizations peering-operator and peergroups, got %v", ks)
			}
			if p, _, _ := unstructured.NestedString(op.Object, "spec", "path"); filepath.Clean(p) != "config/default" {
				t.Errorf("operator path %s", p)
			}
			if p, _, _ := unstructured.NestedString(groups.Object, "spec", "path"); filepath.Clean(p) != "overlays/"+cluster {
				t.Errorf("peergroups path %s, want ./overlays/%s", p, cluster)
			}
			deps, _, _ := unstructured.NestedSlice(groups.Object, "spec", "dependsOn")
			if len(deps) != 1 || deps[0].(map[string]any)["name"] != "peering-operator" {
				t.Errorf("peergroups dependsOn %v, want peering-operator", deps)
			}
			if !strings.HasPrefix(repos[0].Object["spec"].(map[string]any)["url"].(string), "https://") {
				t.Errorf("GitRepository url %v", repos[0].Object["spec"])
			}
		})
	}
}
