// Package gitops tests the deployable manifests: config/, overlays/ and
// clusters/ render with kustomize, and the API server accepts what they render.
package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/simulated-peering/simulated-peering/test/envtest"
)

var (
	root   = envtest.RepoRoot()
	apiCfg *rest.Config
	ctx    = context.Background()
)

func TestMain(m *testing.M) {
	env, err := envtest.New()
	if err == nil {
		// The Prometheus Operator's CRDs, for config/monitoring.
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, path("bin", "prometheus-operator-crds"))
		apiCfg, err = env.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// render builds a kustomization directory (relative to the repository root)
// exactly as `kustomize build` does.
func render(fs filesys.FileSystem, dir string) ([]*unstructured.Unstructured, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// validate renders dir and has the API server check every object with a
// server-side dry-run apply: the CRD's OpenAPI schema and CEL rules for
// PeerGroups, the built-in validation for everything else. Namespaces are
// created for real first, since namespaced dry-runs need them.
func validate(fs filesys.FileSystem, name, dir string) ([]*unstructured.Unstructured, error) {
	objs, err := render(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("overlay %s: %w", name, err)
	}
	c, err := client.New(apiCfg, client.Options{})
	if err != nil {
		return nil, err
	}
	for _, dryRun := range []bool{false, true} {
		for _, o := range objs {
			if (o.GetKind() == "Namespace") == dryRun {
				continue
			}
			opts := []client.ApplyOption{client.FieldOwner("gitops-test"), client.ForceOwnership}
			if dryRun {
				opts = append(opts, client.DryRunAll)
			}
			obj := o.DeepCopy()
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), opts...); err != nil {
				return nil, fmt.Errorf("overlay %s: %s %s/%s rejected by the API server: %w", name, o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	return objs, nil
}

func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func diskFS() filesys.FileSystem { return filesys.MakeFsOnDisk() }

func path(elem ...string) string { return filepath.Join(append([]string{root}, elem...)...) }
