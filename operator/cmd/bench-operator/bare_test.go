package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The bare server answers a poll with the recorded body at once, parks a
// poll whose revision it has, and answers the parked polls on wake.
func TestBareServerReleasesParkedPolls(t *testing.T) {
	operator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"r1"`)
		w.Write([]byte(`{"peers":[{"name":"a"}]}`))
	}))
	defer operator.Close()
	bare := newBareServer(operator.URL, "mesh-", 2)
	defer bare.Close()
	client := &http.Client{}
	code, doc, _, err := get(client, bare.URL+"?self=mesh-0", "")
	if err != nil || code != http.StatusOK || len(doc.Peers) != 1 {
		t.Fatalf("first poll: %d %v %+v", code, err, doc)
	}
	answered := make(chan int, 1)
	go func() {
		code, _, _, _ := get(client, bare.URL+"?self=mesh-0&wait=10s", doc.Revision)
		answered <- code
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case code := <-answered:
		t.Fatalf("the poll was answered %d before the wake", code)
	default:
	}
	bare.wake()
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Fatalf("woken poll: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parked poll was not released")
	}
}
