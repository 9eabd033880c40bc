package controller_test

import (
	"cmp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Invalid PeerGroups never get in: the API server answers with the CRD's
// own messages.
func TestInvalidPeerGroupsAreRejected(t *testing.T) {
	ns := namespace(t)
	nameRule := "metadata.name must be at most 63 characters of lowercase letters, digits and '-', start with a letter"
	for _, tc := range []struct{ name, spec, want, object string }{
		{"negative replicas", `replicas: -1`, "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0", ""},
		{"too many replicas", `replicas: 1001`, "should be less than or equal to 1000", ""},
		{"timeout equals interval", `{pingInterval: 5s, pingTimeout: 5s}`, "pingTimeout must be shorter than pingInterval", ""},
		{"timeout above default interval", `pingTimeout: 2m`, "pingTimeout must be shorter than pingInterval", ""},
		{"interval too short", `pingInterval: 500ms`, "pingInterval must be at least 1s", ""},
		{"timeout too short", `pingTimeout: 50ms`, "pingTimeout must be at least 100ms", ""},
		{"interval not a duration", `pingInterval: often`, `spec.pingInterval: Invalid value: "often": spec.pingInterval in body should match`, ""},
		{"port zero", `port: 0`, "spec.port in body should be greater than or equal to 1", ""},
		{"port too big", `port: 70000`, "spec.port in body should be less than or equal to 65535", ""},
		{"negative fan-out", `maxPeersPerPod: -2`, "spec.maxPeersPerPod in body should be greater than or equal to 0", ""},
		{"unknown metrics compat", `metrics: {compat: kubenurse}`, `spec.metrics.compat: Unsupported value: "kubenurse": supported values: "goldpinger"`, ""},
		// Names that cannot become a Service name and a label value.
		{"name with a dot", `{}`, nameRule, "mesh.v2"},
		{"name with a leading digit", `{}`, nameRule, "1mesh"},
		{"name longer than 63", `{}`, nameRule, "m" + strings.Repeat("x", 63)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var spec map[string]any
			g.Expect(yaml.Unmarshal([]byte(tc.spec), &spec)).To(Succeed())
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "peering.simulated-peering.io/v1alpha1", "kind": "PeerGroup",
				"metadata": map[string]any{"name": cmp.Or(tc.object, "bad"), "namespace": ns}, "spec": spec,
			}}
			err := k8s.Create(ctx, u)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
}
