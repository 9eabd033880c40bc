package peersapi

import (
	"bytes"
	"testing"
)

// One pod's gzipped answer in a 1,000-pod full mesh, as served: shared
// compressed chunks plus the asking pod's chunk compressed per request.
func BenchmarkFullMeshAnswerGzip(b *testing.B) {
	list := readyPods(1000)
	s := Build(group(0), nil, list)
	s.View(list[0].Name).Body(true) // the shared chunks, once per change
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.View(list[i%len(list)].Name).Body(true)
	}
}

// The same answer compressed whole, per request: what the chunks save.
func BenchmarkFullMeshAnswerGzipWhole(b *testing.B) {
	list := readyPods(1000)
	s := Build(group(0), nil, list)
	for i := 0; b.Loop(); i++ {
		parts, length, _ := s.View(list[i%len(list)].Name).Body(false)
		gzipParts(nil, parts, length)
	}
}

// Building a 1,000-pod snapshot: encoding and hashing every peer once.
func BenchmarkBuild1000(b *testing.B) {
	list := readyPods(1000)
	for b.Loop() {
		Build(group(0), nil, list)
	}
}

func TestChunkedGzipIsAboutAsSmall(t *testing.T) {
	list := readyPods(1000)
	s := Build(group(0), nil, list)
	chunked, n, _ := s.View(list[500].Name).Body(true)
	parts, length, _ := s.View(list[500].Name).Body(false)
	whole := gzipParts(nil, parts, length)
	t.Logf("1,000-pod view: %d bytes plain, %d gzipped whole, %d gzipped in chunks", length, len(whole), n)
	if n > 2*len(whole) || len(bytes.Join(chunked, nil)) != n {
		t.Fatalf("chunked gzip %d bytes vs %d whole", n, len(whole))
	}
}
