package app

import (
	"io"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/config"
)

// GET /links reports each peer's record: a peer that answers is up, one
// that refuses is down after two failures (the failure line names its
// node), and the answer satisfies the contract the operator decodes with.
func TestLinksReportEachPeer(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	alive := startPeer(t, "alive")
	alive.Node = "node-1"
	dead := listen(t)
	deadPeer := peers.Peer{Name: "dead", Address: dead.Addr().String(), Node: "node-2"}
	dead.Close() // nothing listens: connection refused
	ep := newEndpoint(t, document("r1", time.Second, alive, deadPeer))
	s := startServer(t, config.Config{PodName: "self", NodeName: "node-0", PeersURL: ep.URL + "/peers"}, nil)

	var links peers.Links
	g.Eventually(func(g Gomega) {
		resp, err := http.Get("http://" + s.addr + peers.LinksPath)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		links, err = peers.DecodeLinks(body)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(links.Links).To(HaveLen(2))
		g.Expect(links.Links[0].State).To(Equal(peers.LinkUp))
		g.Expect(links.Links[1].State).To(Equal(peers.LinkDown))
	}).WithTimeout(6 * time.Second).Should(Succeed())
	g.Expect(links.Pod).To(Equal("self"))
	g.Expect(links.Node).To(Equal("node-0"))
	g.Expect(links.Revision).To(Equal("r1"))
	up, down := links.Links[0], links.Links[1]
	g.Expect(up.Peer).To(Equal("alive"))
	g.Expect(up.Node).To(Equal("node-1"))
	g.Expect(up.RTTP99.Duration).To(BeNumerically(">", 0))
	g.Expect(up.LastSuccess).NotTo(BeNil())
	g.Expect(down.Peer).To(Equal("dead"))
	g.Expect(down.LastOutcome).To(Equal("refused"))
	g.Expect(down.Loss).To(Equal(1.0))
	g.Expect(s.log.messages()).To(ContainElement(HavePrefix("ping to dead (" + deadPeer.Address + ", node node-2) failed: refused")))
}
