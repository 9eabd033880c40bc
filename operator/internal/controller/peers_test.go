package controller_test

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/gomega"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// fetchPeers asks the running operator's peers API for self's document.
func fetchPeers(g Gomega, pg *v1alpha1.PeerGroup, self string) (int, peers.Document) {
	resp, err := http.Get(env.PeersURL + peers.Path(pg.Namespace, pg.Name) + "?self=" + self)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc peers.Document
	if resp.StatusCode == http.StatusOK {
		g.Expect(json.Unmarshal(body, &doc)).To(Succeed())
	}
	return resp.StatusCode, doc
}

func peerNames(doc peers.Document) []string {
	var names []string
	for _, p := range doc.Peers {
		names = append(names, p.Name)
	}
	return names
}

// longPoll starts a ?wait=30s request carrying revision and returns its answer.
func longPoll(pg *v1alpha1.PeerGroup, self, revision string) <-chan peers.Document {
	out := make(chan peers.Document, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, env.PeersURL+peers.Path(pg.Namespace, pg.Name)+"?wait=30s&self="+self, nil)
		req.Header.Set("If-None-Match", `"`+revision+`"`)
		resp, err := (&http.Client{Timeout: 40 * time.Second}).Do(req)
		if err != nil {
			close(out)
			return
		}
		defer resp.Body.Close()
		var doc peers.Document
		json.NewDecoder(resp.Body).Decode(&doc)
		out <- doc
	}()
	return out
}
