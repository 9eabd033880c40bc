package gitops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/simulated-peering/simulated-peering/test/dashboard"
)

// config/monitoring (and its goldpinger alert) renders, and the API server, holding the Prometheus
// Operator's own CRDs (make test-bins pins their version), accepts every
// object; it refuses one the CRDs do not allow, so the check is real.
func TestTheMonitoringObjectsAreValid(t *testing.T) {
	g := NewWithT(t)
	c, err := client.New(apiCfg, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "peering-system"}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	objs, err := validate(diskFS(), "monitoring", path("config", "monitoring"))
	g.Expect(err).NotTo(HaveOccurred())
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		g.Expect(o.GetNamespace()).To(Or(Equal("peering-system"), BeEmpty()), "%s %s", o.GetKind(), o.GetName())
	}
	g.Expect(kinds).To(Equal(map[string]int{"PodMonitor": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1,
		"ServiceAccount": 1, "Secret": 1, "ClusterRoleBinding": 1}))
	goldpinger, err := validate(diskFS(), "monitoring/goldpinger", path("config", "monitoring", "goldpinger"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(goldpinger).To(HaveExactElements(HaveField("Object", HaveKeyWithValue("kind", "PrometheusRule"))))
	g.Expect(goldpinger[0].GetNamespace()).To(Equal("peering-system"))

	bad := find(objs, "PrometheusRule")[0].DeepCopy()
	groups, _, _ := unstructured.NestedSlice(bad.Object, "spec", "groups")
	rules := groups[1].(map[string]any)["rules"].([]any)
	rules[0].(map[string]any)["for"] = "five minutes"
	g.Expect(unstructured.SetNestedSlice(bad.Object, groups, "spec", "groups")).To(Succeed())
	err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(bad), client.FieldOwner("gitops-test"), client.DryRunAll)
	g.Expect(err).To(MatchError(ContainSubstring(`spec.groups[1].rules[0].for: Invalid value: "five minutes"`)), "a PrometheusRule with an invalid duration")
}

// The ServiceMonitor finds the operator Service's metrics port and sends
// the scraper's token, whose account may read /metrics and nothing else.
// (That the PodMonitor selects the rendered server pods is checked beside
// the rendering, in operator/internal/render.)
func TestTheServiceMonitorSelectsTheOperator(t *testing.T) {
	g := NewWithT(t)
	objs, err := render(diskFS(), path("config", "monitoring"))
	g.Expect(err).NotTo(HaveOccurred())
	manager, err := render(diskFS(), path("config", "default"))
	g.Expect(err).NotTo(HaveOccurred())
	var service *unstructured.Unstructured
	for _, s := range find(manager, "Service") {
		if s.GetName() == "peering-operator" {
			service = s
		}
	}
	g.Expect(service).NotTo(BeNil())
	sm := find(objs, "ServiceMonitor")[0]
	smSelector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range smSelector {
		g.Expect(service.GetLabels()).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects the operator's Service")
	}
	smEndpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	ports, _, _ := unstructured.NestedSlice(service.Object, "spec", "ports")
	var names []any
	for _, p := range ports {
		names = append(names, p.(map[string]any)["name"])
	}
	g.Expect(names).To(ContainElement(smEndpoints[0].(map[string]any)["port"]))
	secret, _, _ := unstructured.NestedString(smEndpoints[0].(map[string]any), "authorization", "credentials", "name")
	g.Expect(find(objs, "Secret")[0].GetName()).To(Equal(secret))
	binding := find(objs, "ClusterRoleBinding")[0]
	role, _, _ := unstructured.NestedString(binding.Object, "roleRef", "name")
	g.Expect(role).To(Equal("peering-metrics-reader"), "the scraper may read /metrics and nothing else")
}

// promtool (Debian's Prometheus, make test-bins) checks the rules and runs
// their tests in test/gitops/testdata against them. Every alert has a case
// that fires and one that must not, a severity, a summary, a description
// and a runbook section that exists.
func TestTheAlertsAreTestedAndDocumented(t *testing.T) {
	for _, tc := range []struct{ rules, tests string }{
		{path("config", "monitoring"), "alerts.test.yaml"},
		{path("config", "monitoring", "goldpinger"), "goldpinger.test.yaml"},
	} {
		t.Run(tc.tests, func(t *testing.T) { checkAlerts(t, tc.rules, tc.tests) })
	}
}

// checkAlerts checks the PrometheusRule the kustomization in dir renders
// against the promtool tests in testdata/tests.
func checkAlerts(t *testing.T, kustomization, testFile string) {
	g := NewWithT(t)
	promtool := path("bin", "promtool")
	if _, err := os.Stat(promtool); err != nil {
		t.Fatalf("%s: run `make test-bins`", err)
	}
	objs, err := render(diskFS(), kustomization)
	g.Expect(err).NotTo(HaveOccurred())
	spec := find(objs, "PrometheusRule")[0].Object["spec"]
	rules, err := yaml.Marshal(spec)
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644)).To(Succeed())
	tests, err := os.ReadFile(path("test", "gitops", "testdata", testFile))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o644)).To(Succeed())
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), "promtool %s:\n%s", strings.Join(args, " "), out)
	}

	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	g.Expect(yaml.Unmarshal(tests, &cases)).To(Succeed())
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range cases.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	var parsed struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	g.Expect(yaml.Unmarshal(rules, &parsed)).To(Succeed())
	runbooks, err := os.ReadFile(path("docs", "runbooks.md"))
	g.Expect(err).NotTo(HaveOccurred())
	alerts := 0
	for _, group := range parsed.Groups {
		for _, r := range group.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			g.Expect(fires).To(HaveKey(r.Alert), "no test case where %s fires", r.Alert)
			g.Expect(silent).To(HaveKey(r.Alert), "no test case where %s must not fire", r.Alert)
			g.Expect(r.Labels["severity"]).To(BeElementOf("critical", "warning"), r.Alert)
			g.Expect(r.Annotations).To(HaveKey("summary"), r.Alert)
			g.Expect(r.Annotations).To(HaveKey("description"), r.Alert)
			anchor := "https://github.com/simulated-peering/simulated-peering/blob/main/docs/runbooks.md#" + strings.ToLower(r.Alert)
			g.Expect(r.Annotations["runbook_url"]).To(Equal(anchor), r.Alert)
			g.Expect(string(runbooks)).To(ContainSubstring("\n## "+r.Alert+"\n"), "docs/runbooks.md has no section for %s", r.Alert)
		}
	}
	g.Expect(alerts).To(BeNumerically(">=", 1))
}

// The dashboard is a ConfigMap Grafana's sidecar picks up, and every panel's
// query is PromQL that promtool parses (as a recording rule, the group's
// variables set to match all) over metrics that exist: a recording rule of
// ours, or a name the servers or the operator register.
func TestTheDashboardQueriesParse(t *testing.T) {
	g := NewWithT(t)
	objs, err := render(diskFS(), path("config", "monitoring"))
	g.Expect(err).NotTo(HaveOccurred())
	cm := find(objs, "ConfigMap")[0]
	g.Expect(cm.GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "1"))
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	panels, err := dashboard.Queries([]byte(data["simulated-peering.json"]))
	g.Expect(err).NotTo(HaveOccurred())

	ruleFile, err := yaml.Marshal(find(objs, "PrometheusRule")[0].Object["spec"])
	g.Expect(err).NotTo(HaveOccurred())
	known := knownMetricNames(t)
	var rules []map[string]string
	name := regexp.MustCompile(`\b[a-z_]+:[a-z0-9_:]+\b|\bpeering_[a-z0-9_]+\b`)
	var queries []string
	anyGroup := strings.NewReplacer("$namespace", ".*", "$peergroup", ".*")
	for _, q := range panels {
		queries = append(queries, anyGroup.Replace(q))
	}
	for i, p := range queries {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:panel_%d", i), "expr": p})
		for _, m := range name.FindAllString(p, -1) {
			if strings.Contains(m, ":") {
				g.Expect(string(ruleFile)).To(ContainSubstring("record: "+m), "the dashboard reads %s, which no rule records", m)
				continue
			}
			g.Expect(known[m] || known[strings.TrimSuffix(m, "_bucket")]).To(BeTrue(), "the dashboard reads %s, which nothing registers", m)
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	g.Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(t.TempDir(), "dashboard.rules.yaml")
	g.Expect(os.WriteFile(file, out, 0o644)).To(Succeed())
	check, err := exec.Command(path("bin", "promtool"), "check", "rules", file).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "promtool check rules on the dashboard's queries:\n%s", check)
}

// knownMetricNames are the metric names the servers and the operator
// register (their Name fields in the Go source).
func knownMetricNames(t *testing.T) map[string]bool {
	known := map[string]bool{}
	registered := regexp.MustCompile(`Name:\s+"(peering_[a-z0-9_]+)"`)
	for _, dir := range []string{"server", "operator"} {
		err := filepath.WalkDir(path(dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			for _, m := range registered.FindAllStringSubmatch(string(b), -1) {
				known[m[1]] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(known) < 5 {
		t.Fatalf("found only %v registered: the pattern no longer matches the source", known)
	}
	return known
}
