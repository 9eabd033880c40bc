package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// bareServer is what the peers API's figures are read against: a plain
// net/http server that answers each pod with the bytes the operator
// answered it (same body, same encoding), precomputed, and releases every
// parked poll at once. The same client child process polls both.
type bareServer struct {
	*httptest.Server
	bodies map[string]recorded // by ?self=

	mu      sync.Mutex
	etag    string
	release chan struct{}
}

type recorded struct {
	body     []byte
	encoding string
}

// newBareServer records, for pods prefix0…prefix{n-1}, the operator's
// answer at url as a server's client asks for it (gzip accepted).
func newBareServer(url, prefix string, n int) *bareServer {
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	b := &bareServer{bodies: map[string]recorded{}, etag: "bare-1", release: make(chan struct{})}
	var mu sync.Mutex
	inParallel(n, func(i int) {
		self := prefix + strconv.Itoa(i)
		req, _ := http.NewRequest(http.MethodGet, url+"?self="+self, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := raw.Do(req)
		check(err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		check(err)
		if resp.StatusCode != http.StatusOK {
			check(fmt.Errorf("recording %s: %s", self, resp.Status))
		}
		mu.Lock()
		b.bodies[self] = recorded{body, resp.Header.Get("Content-Encoding")}
		mu.Unlock()
	})
	b.Server = httptest.NewServer(b)
	return b
}

func (b *bareServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := b.bodies[r.URL.Query().Get("self")]
	b.mu.Lock()
	etag, release := b.etag, b.release
	b.mu.Unlock()
	if r.Header.Get("If-None-Match") == `"`+etag+`"` {
		wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
		select {
		case <-release:
			b.mu.Lock()
			etag = b.etag
			b.mu.Unlock()
		case <-time.After(wait):
			w.WriteHeader(http.StatusNotModified)
			return
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"`+etag+`"`)
	if rec.encoding != "" {
		w.Header().Set("Content-Encoding", rec.encoding)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.body)))
	w.Write(rec.body)
}

// wake answers every parked poll and returns when it did.
func (b *bareServer) wake() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.etag += "+"
	close(b.release)
	b.release = make(chan struct{})
	return time.Now()
}
