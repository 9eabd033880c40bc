package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// A 1,000-pod full mesh round as the collector runs it, without the HTTP:
// 1,000 answers of 999 links decoded (16 at a time, as MaxFetchesPerRound
// allows), digested, carried, summarized, published and laid out as the
// matrix. It reports the peak heap above what was live before the round
// (sampled every millisecond; garbage included) and the most the collector
// found live, besides time and allocation. make
// bench-operator measures the same round against real /links servers.
func BenchmarkFullMeshRound1000(b *testing.B) {
	const n = 1000
	name := func(i int) string { return fmt.Sprintf("mesh-%04d", i) }
	in := Input{Expected: map[string][]string{}}
	var all []string
	for i := range n {
		in.Pods = append(in.Pods, Pod{Name: name(i), Node: fmt.Sprintf("node-%d", i%10), Zone: fmt.Sprintf("zone-%d", i%3), Counts: true})
		all = append(all, name(i))
	}
	for i := range n {
		in.Expected[name(i)] = append(append([]string(nil), all[:i]...), all[i+1:]...)
	}
	body := fullMeshAnswer(b, all)
	counting := map[string]string{}
	for _, p := range all {
		counting[p] = p
	}
	keep := func(peer string) (string, bool) { s, ok := counting[peer]; return s, ok }
	tracker := NewTracker()
	var peak, peakLive float64
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		base := heapBytes()
		var top, live atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { // the peak, sampled
			defer close(sampled)
			for {
				top.Store(max(top.Load(), heapBytes()))
				live.Store(max(live.Load(), liveBytes()))
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		round := in
		round.Reports = map[string]Report{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		slots := make(chan struct{}, MaxFetchesPerRound)
		for _, pod := range all {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				r, err := DecodeReport(body, keep)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				round.Reports[pod] = r
				mu.Unlock()
			})
		}
		wg.Wait()
		round = tracker.Carry(round)
		r := tracker.Publish(Summarize(round), time.Now())
		m := BuildMatrix(round)
		close(stop)
		<-sampled
		if r.Links.Summary != fmt.Sprintf("%d/%d", n*(n-1), n*(n-1)) || len(m.Places) == 0 {
			b.Fatalf("summary %s, %d places", r.Links.Summary, len(m.Places))
		}
		peak = max(peak, float64(top.Load()-min(base, top.Load()))/(1<<20))
		peakLive = max(peakLive, float64(live.Load()-min(base, live.Load()))/(1<<20))
	}
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(peakLive, "peak-live-MiB")
}

// liveBytes is the heap the last GC found live.
func liveBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapBytes is the heap's live and not yet swept objects.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// fullMeshAnswer is one /links answer listing every pod up (the pinger's
// own record is ignored as not expected), so a benchmark holds one answer,
// not a thousand.
func fullMeshAnswer(b *testing.B, pods []string) []byte {
	answer := peers.Links{Pod: "mesh-x", Node: "node-x", Window: peers.LinkWindow}
	buckets := make([]int, len(peers.RTTBucketBounds)+1)
	buckets[peers.RTTBucket(800*time.Microsecond)] = peers.LinkWindow
	for i, name := range pods {
		answer.Links = append(answer.Links, peers.Link{Peer: name, Address: fmt.Sprintf("10.244.%d.%d:8080", i/250, i%250+2),
			Node: fmt.Sprintf("node-%d", i%10), State: peers.LinkUp, Since: time.Now(), LastOutcome: "ok",
			LastRTT: peers.Duration{Duration: time.Millisecond}, Pings: peers.LinkWindow,
			RTTP50: peers.Duration{Duration: 700 * time.Microsecond}, RTTP99: peers.Duration{Duration: 900 * time.Microsecond},
			Segments: 40, Retransmits: 0, RTTBuckets: buckets})
	}
	body, err := json.Marshal(answer)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// One full-mesh /links answer (999 links, ~330 KB) fetched over real HTTP
// and read into a Report, as a round does a thousand times: the
// allocation per answer is the figure.
func BenchmarkFetch999Links(b *testing.B) {
	var pods []string
	for i := range 1000 {
		pods = append(pods, fmt.Sprintf("mesh-%04d", i))
	}
	body := fullMeshAnswer(b, pods)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	keep := func(peer string) (string, bool) { return peer, true }
	c := NewCollector(nil)
	address := strings.TrimPrefix(srv.URL, "http://")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Fetch(context.Background(), address, 2*time.Second, keep)
		if err != nil || len(r.Links) != len(pods) {
			b.Fatalf("%d links, %v", len(r.Links), err)
		}
	}
}
