//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// 1, 7, 8: five pods each hear from the other four within two intervals; the
// group passes kubectl wait and is kstatus Current; pods are Guaranteed.
func TestFullMesh(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-mesh")
	cluster.CreateReadyGroup(t, g, ns, 5, "3s")
	ready := time.Now()

	running := cluster.WaitForFullMesh(g, ns, 5, 6*time.Second-time.Since(ready)+3*time.Second)
	for name, p := range running {
		g.Expect(p.Status.QOSClass).To(Equal(corev1.PodQOSGuaranteed), "pod %s QoS", name)
	}

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cluster.GetGroup(g, ns))
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(status.CurrentStatus), "kstatus: %s", res.Message)
}

// 8: the restricted Pod Security Standard is enforced on the namespace.
func TestRestrictedPodSecurityIsEnforced(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-pss")
	out, err := cluster.KubectlApply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: %s}
spec:
  containers: [{name: c, image: simulated-peering/server:dev, securityContext: {privileged: true}}]
`, ns))
	g.Expect(err).To(HaveOccurred(), "a privileged pod was admitted: %s", out)
	g.Expect(out).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))
}

// 5: kubectl apply rejects invalid PeerGroups with the CRD's messages.
func TestInvalidPeerGroupsAreRejectedByKubectl(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-invalid")
	for spec, want := range map[string]string{
		"{replicas: -1}":                      "should be greater than or equal to 0",
		"{pingInterval: 5s, pingTimeout: 5s}": "pingTimeout must be shorter than pingInterval",
		"{port: 0}":                           "spec.port in body should be greater than or equal to 1",
	} {
		out, err := cluster.KubectlApply(fmt.Sprintf("apiVersion: peering.simulated-peering.io/v1alpha1\nkind: PeerGroup\nmetadata: {name: bad, namespace: %s}\nspec: %s\n", ns, spec))
		g.Expect(err).To(HaveOccurred(), "spec %s was accepted", spec)
		g.Expect(out).To(ContainSubstring(want), "spec %s", spec)
	}
	g.Expect(strings.TrimSpace(must(cluster.Kubectl("-n", ns, "get", "peergroups", "-o", "name")))).To(BeEmpty())
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
