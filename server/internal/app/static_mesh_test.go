package app

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/server/internal/config"
)

// Four servers with a static PEERS list that includes themselves: every one
// logs a pong from each of the other three, by name, and never pings itself.
func TestStaticMeshEveryServerHearsEveryOther(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	const n = 4
	lns := make([]net.Listener, n)
	addrs := make([]string, n)
	for i := range lns {
		lns[i] = listen(t)
		addrs[i] = lns[i].Addr().String()
	}
	list, err := config.ParsePeers(strings.Join(addrs, ","))
	g.Expect(err).NotTo(HaveOccurred())
	servers := make([]*runningServer, n)
	for i := range servers {
		servers[i] = startServer(t, config.Config{PodName: fmt.Sprintf("server-%d", i), StaticPeers: list}, lns[i])
	}
	for i, s := range servers {
		for j := range servers {
			if i == j {
				continue
			}
			g.Eventually(func() int { return s.log.count(fmt.Sprintf("pong from server-%d (%s) rtt=", j, addrs[j])) }).
				WithTimeout(5*time.Second).Should(BeNumerically(">=", 2), "server-%d never heard server-%d", i, j)
		}
		g.Expect(s.log.count(fmt.Sprintf("pong from server-%d ", i))).To(BeZero(), "server-%d pinged itself", i)
		g.Expect(s.log.count("now pinging ")).To(Equal(n-1), "server-%d runs one loop per other server", i)
	}
	for _, s := range servers {
		g.Expect(s.stop()).To(Succeed())
		g.Expect(s.log.messages()).To(ContainElement("stopped"))
	}
}
