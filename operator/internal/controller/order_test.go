package controller_test

import (
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
)

// A document's order is how far the answering replica's cache has got, not
// just the newest of its own group's objects: after another group's pods
// change, this group's next document orders above them. A replica whose
// cache is behind therefore answers lower, and servers ignore it.
func TestDocumentsOrderByTheCachesProgress(t *testing.T) {
	g := NewWithT(t)
	quiet := newGroup(g, namespace(t), "mesh", 2)
	quietPods := startPods(g, currentReplicaSet(g, quiet), 1)
	busy := newGroup(g, namespace(t), "mesh", 3)
	busyPods := startPods(g, currentReplicaSet(g, busy), 3)
	// The operator's cache has the busy pods (all Ready) before the quiet
	// group's first document is built.
	g.Eventually(func() int { _, d := fetchPeers(g, busy, busyPods[0].Name); return len(d.Peers) }).Should(Equal(2))
	_, before := fetchPeers(g, quiet, quietPods[0].Name)

	newest, err := strconv.ParseUint(busyPods[2].ResourceVersion, 10, 64)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(before.Order).To(BeNumerically(">=", newest), "the other group's pods were in the cache before this document was built")

	more := startPods(g, currentReplicaSet(g, quiet), 1) // a change of the quiet group
	g.Eventually(func() int { _, d := fetchPeers(g, quiet, quietPods[0].Name); return len(d.Peers) }).Should(Equal(1))
	_, after := fetchPeers(g, quiet, quietPods[0].Name)
	last, _ := strconv.ParseUint(more[0].ResourceVersion, 10, 64)
	g.Expect(after.Order).To(BeNumerically(">=", last))
	g.Expect(after.Order).To(BeNumerically(">", before.Order))
}
