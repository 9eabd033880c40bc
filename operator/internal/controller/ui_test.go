package controller_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/operator/internal/ui"
	"github.com/simulated-peering/simulated-peering/test/browser"
)

// The web view in a real browser: the group is listed, its matrix has a
// cell per pod pair, and a pod unreachable from everyone turns its column
// to the down colour, live, and back after the repair.
func TestWebViewShowsTheBrokenColumn(t *testing.T) {
	g := NewWithT(t)
	pg, f := newFakeLinksGroup(t, g, 30)
	key := pg.Namespace + "/" + pg.Name
	page := browser.Open(t)
	g.Expect(chromedp.Do(page, chromedp.Navigate(env.UIURL+"/#"+key))).To(Succeed())

	g.Eventually(func() ([]string, error) { return browser.Groups(page) }).WithTimeout(10 * time.Second).Should(ContainElement(key))
	columnOf := func(target string) func() ([]string, error) {
		return func() ([]string, error) {
			cells, err := browser.MatrixCells(page)
			if len(cells) != 16 {
				return nil, err // not drawn yet: 4 × 4 cells
			}
			return browser.Column(cells, target), err
		}
	}
	g.Eventually(columnOf("mesh-3")).WithTimeout(10 * time.Second).Should(Equal([]string{"up", "up", "up"}))

	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1", "mesh-2"} {
			f.down[[2]string{p, "mesh-3"}] = true
		}
	})
	g.Eventually(columnOf("mesh-3")).WithTimeout(10 * time.Second).Should(Equal([]string{"down", "down", "down"}))
	g.Expect(columnOf("mesh-2")()).To(Equal([]string{"up", "up", "up"}), "only the victim's column is down")
	suspects, err := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("suspects").textContent`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(suspects).To(ContainSubstring("Down Pod mesh-3 on node-b: cannot be reached, 3/3 links agree"))

	f.update(func(f *fakeLinks) { f.down = map[[2]string]bool{} })
	g.Eventually(columnOf("mesh-3")).WithTimeout(10 * time.Second).Should(Equal([]string{"up", "up", "up"}))

	// Loss is its own colour, not down's: links to mesh-2 retransmit 20%
	// of their segments while every ping succeeds. Rows name their node.
	f.update(func(f *fakeLinks) {
		for _, p := range []string{"mesh-0", "mesh-1", "mesh-3"} {
			f.lossy[[2]string{p, "mesh-2"}] = true
		}
	})
	g.Eventually(columnOf("mesh-2")).WithTimeout(10 * time.Second).Should(Equal([]string{"lossier", "lossier", "lossier"}))
	g.Eventually(func() (string, error) {
		return chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("suspects").textContent`))
	}).WithTimeout(10 * time.Second).Should(ContainSubstring("Degraded Pod mesh-2 on node-b: lossy cannot be reached, 3/3 links agree, 20.0% of 75 segments retransmitted"))
	rows, err := chromedp.Run(page, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#matrix .head.row")).map(r => r.textContent)`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rows).To(ContainElement("mesh-2 · node-b"))
	legend, err := chromedp.Run(page, chromedp.Evaluate[string](`document.getElementById("legend").textContent`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(legend).To(And(ContainSubstring("lossy: pings answered"), ContainSubstring("down: pings fail")))
}

// Open views are capped: one more stream than allowed is told to come back.
func TestWebViewStreamsAreBounded(t *testing.T) {
	g := NewWithT(t)
	client := &http.Client{}
	for range ui.MaxStreams {
		resp, err := client.Get(env.UIURL + "/api/stream")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		t.Cleanup(func() { resp.Body.Close() })
	}
	resp, err := client.Get(env.UIURL + "/api/stream")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusServiceUnavailable))
	g.Expect(resp.Header.Get("Retry-After")).NotTo(BeEmpty())
	g.Expect(strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")).To(BeTrue())
}
