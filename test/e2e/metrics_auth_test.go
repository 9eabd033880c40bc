//go:build e2e

package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/test/e2e/cluster"
)

// The operator's /metrics answers only a caller allowed to get it: none
// without a token, 403 for a ServiceAccount without the shipped
// peering-metrics-reader ClusterRole, the metrics for one bound to it.
func TestOperatorMetricsNeedAnAllowedToken(t *testing.T) {
	g := NewWithT(t)
	ns := cluster.Namespace(t, "e2e-scrape")
	binding := ns + "-metrics-reader"
	for _, args := range [][]string{
		{"-n", ns, "create", "serviceaccount", "prometheus"},
		{"-n", ns, "create", "serviceaccount", "nobody"},
		{"create", "clusterrolebinding", binding, "--clusterrole=peering-metrics-reader", "--serviceaccount=" + ns + ":prometheus"},
	} {
		out, err := cluster.Kubectl(args...)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}
	t.Cleanup(func() { cluster.Kubectl("delete", "clusterrolebinding", binding) })
	token := func(sa string) string {
		out, err := cluster.Kubectl("-n", ns, "create", "token", sa)
		g.Expect(err).NotTo(HaveOccurred(), out)
		return strings.TrimSpace(out)
	}
	// Through kubectl port-forward: the operator's NetworkPolicy admits only
	// pods labelled as metrics scrapers on this port. To the leader: only
	// the replica that collects link health has the peering_group_* series.
	leader := cluster.Leader(g)
	g.Expect(leader).NotTo(BeEmpty(), "no operator replica holds the lease")
	addr := cluster.PortForward(t, "peering-system", "pod/"+leader, 8080)
	// Self-signed: the scrape is authenticated by the token, not the server's certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		g.Expect(err).NotTo(HaveOccurred())
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	code, _ := scrape("")
	g.Expect(code).To(Equal(http.StatusUnauthorized), "no token")
	code, _ = scrape(token("nobody"))
	g.Expect(code).To(Equal(http.StatusForbidden), "a ServiceAccount without the ClusterRole")
	var body string
	g.Eventually(func() int { code, body = scrape(token("prometheus")); return code }).Should(Equal(http.StatusOK), "bound to peering-metrics-reader")
	g.Expect(body).To(ContainSubstring("peering_group_links{"))

	resp, err := http.Get("http://" + addr + "/metrics")
	if err == nil {
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "plain HTTP is not served")
	}
}
