package controller_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
	"github.com/simulated-peering/simulated-peering/operator/internal/testenv"
)

// peersRequest is a request for self's document, carrying self's pod-bound
// token as its server would.
func peersRequest(g Gomega, pg *v1alpha1.PeerGroup, self, query string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, env.PeersURL+peers.Path(pg.Namespace, pg.Name)+"?self="+self+query, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+podToken(g, pg.Namespace, self))
	return req
}

var tokens sync.Map // namespace/name/uid → token

// podToken is a token bound to the pod, for the peers API's audience.
func podToken(g Gomega, namespace, name string) string {
	pod := &corev1.Pod{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pod)).To(Succeed())
	key := namespace + "/" + name + "/" + string(pod.UID)
	if t, ok := tokens.Load(key); ok {
		return t.(string)
	}
	token, err := testenv.PodToken(ctx, k8s, pod, peers.TokenAudience)
	g.Expect(err).NotTo(HaveOccurred())
	tokens.Store(key, token)
	return token
}

// fetchPeers asks the running operator's peers API for self's document, as
// self's server would.
func fetchPeers(g Gomega, pg *v1alpha1.PeerGroup, self string) (int, peers.Document) {
	code, doc, _ := askPeers(g, pg, podToken(g, pg.Namespace, self), "?self="+self)
	return code, doc
}

func peerNames(doc peers.Document) []string {
	var names []string
	for _, p := range doc.Peers {
		names = append(names, p.Name)
	}
	return names
}

// longPoll starts a ?wait=30s request carrying revision and returns its answer.
func longPoll(g Gomega, pg *v1alpha1.PeerGroup, self, revision string) <-chan peers.Document {
	out := make(chan peers.Document, 1)
	req := peersRequest(g, pg, self, "&wait=30s")
	req.Header.Set("If-None-Match", `"`+revision+`"`)
	go func() {
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
