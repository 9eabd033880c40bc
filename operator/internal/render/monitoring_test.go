package render

import (
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// The PodMonitor config/monitoring ships selects the server pods this
// package renders, on the port their /metrics is served from.
func TestThePodMonitorFindsTheServers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "monitoring", "podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pm struct {
		Spec struct {
			Selector            metav1.LabelSelector `json:"selector"`
			PodMetricsEndpoints []struct {
				Port string `json:"port"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &pm); err != nil {
		t.Fatal(err)
	}
	pod := PodTemplate(group(nil), opts)
	selector, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the PodMonitor's selector %s does not select the server pods (labels %v)", selector, pod.Labels)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != pod.Spec.Containers[0].Ports[0].Name {
		t.Errorf("the PodMonitor scrapes port %+v; the servers serve /metrics on %q", pm.Spec.PodMetricsEndpoints, pod.Spec.Containers[0].Ports[0].Name)
	}
}
