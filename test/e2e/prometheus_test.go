//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/simulated-peering/simulated-peering/test/browser"
	"github.com/simulated-peering/simulated-peering/test/dashboard"
	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// The shipped monitoring, proven by a real Prometheus (issue 21): the real
// Prometheus Operator turns config/monitoring into the configuration of a
// Prometheus built from the module proxy (hack/monitoring/up.sh, as make
// demo MONITORING=1 does). The servers and the operator's protected
// /metrics are scraped; the unreachable-pod fault fires the suspects alert
// within its `for` plus two scrape intervals and resolves after the repair;
// every dashboard query and the goldpinger-compatible queries and alert
// answer; churn fires nothing.
func TestPrometheusAlertsOnAnUnreachablePod(t *testing.T) {
	g := NewWithT(t)
	g.Expect(cluster.Run(exec.Command(filepath.Join(cluster.Root, "hack", "monitoring", "up.sh")))).To(Succeed())
	prom, promURL := prometheusAPI(t)

	const n = 4
	ns := cluster.Namespace(t, "e2e-prom")
	group := strings.Replace(cluster.Group(ns, n, "2s"), "pingTimeout: 1s", "pingTimeout: 500ms, metrics: {compat: goldpinger}", 1)
	out, err := cluster.KubectlApply(group)
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = cluster.Kubectl("-n", ns, "wait", "peergroup/mesh", "--for=condition=Ready", "--timeout=180s")
	g.Expect(err).NotTo(HaveOccurred(), out)
	pods := cluster.WaitForFullMesh(g, ns, n, 30*time.Second)

	// Targets: every server of the group, and every operator replica through
	// its HTTPS endpoint with the scraper's token, up.
	replicas, err := cluster.Kubectl("-n", "peering-system", "get", "deployment", "peering-operator", "-o", "jsonpath={.status.readyReplicas}")
	g.Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	g.Eventually(func(g Gomega) {
		targets, err := prom.Targets(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		servers, operators := 0, 0
		for _, tg := range targets.Active {
			switch {
			case tg.ScrapePool == "podMonitor/peering-system/peering-servers/0" && string(tg.Labels["namespace"]) == ns:
				g.Expect(tg.Health).To(Equal(promv1.HealthGood), "%s: %s", tg.ScrapeURL, tg.LastError)
				g.Expect(tg.Labels).To(HaveKeyWithValue(model.LabelName("peergroup"), model.LabelValue("mesh")))
				g.Expect(tg.Labels).To(HaveKey(model.LabelName("node")))
				servers++
			case tg.ScrapePool == "serviceMonitor/peering-system/peering-operator/0":
				g.Expect(tg.Health).To(Equal(promv1.HealthGood), "%s: %s", tg.ScrapeURL, tg.LastError)
				g.Expect(tg.ScrapeURL).To(HavePrefix("https://"))
				operators++
			}
		}
		g.Expect(servers).To(Equal(n))
		g.Expect(fmt.Sprint(operators)).To(Equal(replicas))
	}).WithTimeout(2*time.Minute).WithPolling(2*time.Second).Should(Succeed(), "Prometheus scrapes the %d servers and the operator's replicas", n)
	t.Logf("targets up %s after the group was Ready: %d servers, %s operator replicas (HTTPS, the scraper's token)",
		time.Since(start).Round(time.Second), n, replicas)
	// The leader's link health for the group has reached Prometheus.
	g.Eventually(func(g Gomega) model.Vector {
		return query(g, prom, fmt.Sprintf(`peering_group_links{namespace=%q, state="up"}`, ns))
	}).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(HaveLen(1))

	victim := pods[cluster.Names(pods)[0]]
	var peers []string
	for _, p := range pods {
		if p.Name != victim.Name {
			peers = append(peers, p.Status.PodIP)
		}
	}
	slices.Sort(peers)
	netns := cluster.PodNetns(g, victim)
	rule := []string{"INPUT", "-p", "tcp", "--dport", "8080", "-s", strings.Join(peers, ","),
		"-m", "comment", "--comment", "e2e-prom", "-j", "DROP"}
	repair := func() { inNetns(netns, append([]string{"iptables", "-D"}, rule...)...) }
	t.Cleanup(repair)

	// The bound the issue sets: the alert's `for` plus two scrape intervals.
	const forDuration, scrape = time.Minute, 15 * time.Second
	bound := forDuration + 2*scrape
	g.Expect(inNetns(netns, append([]string{"iptables", "-I"}, rule...)...)).To(Succeed())
	broke := time.Now()
	g.Eventually(func(g Gomega) []string { return suspects(g, ns) }).WithTimeout(20*time.Second).WithPolling(200*time.Millisecond).
		Should(ConsistOf("Pod/"+victim.Name+" Down Unreachable"), "the operator names %s", victim.Name)
	named := time.Since(broke)
	suspectAlert := And(HaveField("Labels", And(
		HaveKeyWithValue(model.LabelName("alertname"), model.LabelValue("PeeringPodOrLinkDown")),
		HaveKeyWithValue(model.LabelName("namespace"), model.LabelValue(ns)),
		HaveKeyWithValue(model.LabelName("name"), model.LabelValue(victim.Name)),
		HaveKeyWithValue(model.LabelName("node"), model.LabelValue(victim.Spec.NodeName)))),
		HaveField("State", promv1.AlertStateFiring))
	g.Eventually(func(g Gomega) []promv1.Alert { return alerts(g, prom, ns) }).
		WithTimeout(bound-time.Since(broke)).WithPolling(time.Second).
		Should(ContainElement(suspectAlert), "PeeringPodOrLinkDown fires for %s within for (%s) + 2 scrapes (%s)", victim.Name, forDuration, 2*scrape)
	fired := time.Since(broke)
	t.Logf("fault at 0s; operator named %s at %s; PeeringPodOrLinkDown firing at %s (bound %s)",
		victim.Name, named.Round(100*time.Millisecond), fired.Round(time.Second), bound)
	// goldpinger's alert, over the compatible metrics: the victim's peers'
	// nodes see it unhealthy; it has the same `for`.
	g.Eventually(func(g Gomega) []promv1.Alert { return alerts(g, prom, ns) }).WithTimeout(30*time.Second).WithPolling(time.Second).
		Should(ContainElement(And(HaveField("Labels", HaveKeyWithValue(model.LabelName("alertname"), model.LabelValue("goldpinger_nodes_unhealthy"))),
			HaveField("State", promv1.AlertStateFiring))), "goldpinger_nodes_unhealthy fires")
	t.Logf("goldpinger_nodes_unhealthy firing at %s", time.Since(broke).Round(time.Second))
	firing := alerts(g, prom, ns)
	for _, a := range firing {
		t.Logf("  %s %s since %s: %s", a.State, a.Labels, a.ActiveAt.UTC().Format(time.TimeOnly), a.Annotations["summary"])
	}
	g.Expect(firing).To(HaveEach(HaveField("Labels", HaveKeyWithValue(model.LabelName("alertname"),
		BeElementOf(model.LabelValue("PeeringPodOrLinkDown"), model.LabelValue("goldpinger_nodes_unhealthy"))))), "no other alert about the group")

	// Every panel of the shipped dashboard, and what a goldpinger dashboard
	// asks, answers with data about the group.
	data, err := os.ReadFile(filepath.Join(cluster.Root, "config", "monitoring", "dashboard.json"))
	g.Expect(err).NotTo(HaveOccurred())
	panels, err := dashboard.Queries(data)
	g.Expect(err).NotTo(HaveOccurred())
	vars := strings.NewReplacer("$namespace", ns, "$peergroup", "mesh")
	for _, q := range panels {
		q = vars.Replace(q)
		g.Eventually(func(g Gomega) model.Vector { return query(g, prom, q) }).WithTimeout(30*time.Second).WithPolling(2*time.Second).
			ShouldNot(BeEmpty(), "the dashboard query %s", q)
	}
	for _, q := range goldpingerQueries {
		q = strings.ReplaceAll(q, "$namespace", ns)
		g.Eventually(func(g Gomega) model.Vector { return query(g, prom, q) }).WithTimeout(30*time.Second).WithPolling(2*time.Second).
			ShouldNot(BeEmpty(), "the goldpinger query %s", q)
	}
	t.Logf("%d dashboard queries and %d goldpinger queries returned data", len(panels), len(goldpingerQueries))
	screenshotAlerts(t, g, promURL)

	repair()
	repaired := time.Now()
	g.Eventually(func(g Gomega) []promv1.Alert { return alerts(g, prom, ns) }).WithTimeout(2*time.Minute).WithPolling(time.Second).
		ShouldNot(ContainElement(HaveField("State", promv1.AlertStateFiring)), "the alerts resolve after the repair")
	t.Logf("repaired at 0s; no alert firing at %s", time.Since(repaired).Round(time.Second))

	// Churn: scale up, roll to a new image, scale down; nothing fires while
	// it lasts nor for the alerts' `for` plus two scrapes after.
	var pending []string
	watch := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(2 * time.Second) {
			for _, a := range alerts(g, prom, ns) {
				g.Expect(a.State).NotTo(Equal(promv1.AlertStateFiring), "churn fired %s", a.Labels)
				pending = append(pending, string(a.Labels["alertname"]))
			}
		}
	}
	churnStart := time.Now()
	for _, step := range [][]string{
		{"scale", "pg", "mesh", "--replicas=6"},
		{"patch", "pg", "mesh", "--type=merge", "-p", `{"spec":{"image":"simulated-peering/server:dev2"}}`},
		{"scale", "pg", "mesh", "--replicas=3"},
	} {
		out, err := cluster.Kubectl(append([]string{"-n", ns}, step...)...)
		g.Expect(err).NotTo(HaveOccurred(), out)
		watch(30 * time.Second)
	}
	watch(bound)
	slices.Sort(pending)
	t.Logf("churn (scale 4→6, roll to :dev2, scale 6→3) and %s after: nothing fired in %s (pending on the way: %v)",
		bound, time.Since(churnStart).Round(time.Second), slices.Compact(pending))
}

// prometheusAPI is the harness's Prometheus, port-forwarded like make
// prometheus does, and its URL.
func prometheusAPI(t *testing.T) (promv1.API, string) {
	url := "http://" + cluster.PortForward(t, "monitoring", "svc/prometheus-operated", 9090)
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c), url
}

// query runs an instant PromQL query.
func query(g Gomega, prom promv1.API, q string) model.Vector {
	v, _, _, err := prom.Query(context.Background(), q, time.Now())
	g.Expect(err).NotTo(HaveOccurred(), q)
	g.Expect(v.Type()).To(Equal(model.ValVector), q)
	return v.(model.Vector)
}

// alerts are Prometheus's pending and firing alerts about namespace ns.
func alerts(g Gomega, prom promv1.API, ns string) []promv1.Alert {
	res, err := prom.Alerts(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	var out []promv1.Alert
	for _, a := range res.Alerts {
		if string(a.Labels["namespace"]) == ns {
			out = append(out, a)
		}
	}
	return out
}

// goldpingerQueries are what a goldpinger dashboard plots, written from
// goldpinger's metric names and labels (docs/monitoring.md lists them).
var goldpingerQueries = []string{
	`sum by (goldpinger_instance) (goldpinger_nodes_health_total{namespace="$namespace", status="healthy"})`,
	`sum by (goldpinger_instance) (goldpinger_nodes_health_total{namespace="$namespace", status="unhealthy"})`,
	`min by (goldpinger_instance) (goldpinger_cluster_health_total{namespace="$namespace"})`,
	`histogram_quantile(0.95, sum by (goldpinger_instance, le) (rate(goldpinger_peers_response_time_s_bucket{namespace="$namespace", call_type="ping"}[1m])))`,
	`sum by (goldpinger_instance, host_ip, pod_ip) (rate(goldpinger_peers_response_time_s_count{namespace="$namespace"}[1m]))`,
	`sum by (goldpinger_instance, type) (rate(goldpinger_errors_total{namespace="$namespace"}[1m]))`,
	`sum by (goldpinger_instance, group, action) (rate(goldpinger_stats_total{namespace="$namespace"}[1m]))`,
	`max by (goldpinger_instance, pod_ip) (goldpinger_peers_loss_pct{namespace="$namespace"})`,
}

// screenshotAlerts saves Prometheus's own alerts page, the firing alerts
// only and opened, from the real browser.
func screenshotAlerts(t *testing.T, g Gomega, promURL string) {
	page := browser.Open(t)
	g.Expect(chromedp.Do(page, chromedp.Navigate(promURL+"/alerts?state=firing"))).To(Succeed())
	// textContent, not innerText: the page upper-cases its badges with CSS.
	firingShown := func() (bool, error) {
		return chromedp.Run(page, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll("button.mantine-Accordion-control")).some(
			b => b.textContent.includes("PeeringPodOrLinkDown") && b.textContent.includes("firing ("))`))
	}
	g.Eventually(firingShown).WithTimeout(30*time.Second).Should(BeTrue(), "the alerts page lists PeeringPodOrLinkDown firing")
	_, err := chromedp.Run(page, chromedp.Evaluate[any](`document.querySelectorAll("button.mantine-Accordion-control").forEach(
		b => { if (b.textContent.includes("firing (")) b.click() })`))
	g.Expect(err).NotTo(HaveOccurred())
	opened := func() (bool, error) {
		return chromedp.Run(page, chromedp.Evaluate[bool](`document.body.textContent.includes("Active Since")`))
	}
	g.Eventually(opened).WithTimeout(10*time.Second).Should(BeTrue(), "the firing rules open")
	time.Sleep(time.Second) // the accordion's opening animation
	shot, err := chromedp.Run(page, chromedp.FullScreenshot(100))
	g.Expect(err).NotTo(HaveOccurred())
	file := filepath.Join(cluster.Artifacts(t), "prometheus-alerts.png")
	g.Expect(os.WriteFile(file, shot, 0o644)).To(Succeed())
	t.Logf("screenshot of Prometheus's alerts page: %s", file)
}
