package peers

import (
	"encoding/json"
	"strings"
	"testing"
)

const validLinks = `{"pod":"mesh-a","node":"node-1","revision":"r1","window":20,"links":[
 {"peer":"mesh-b","address":"10.88.1.2:8080","node":"node-2","state":"up","since":"2026-11-29T10:00:00Z",
  "consecutiveFailures":0,"lastOutcome":"ok","lastRTT":"1.2ms","rttP50":"1ms","rttP99":"3ms","loss":0.05,"pings":20,
  "lastSuccess":"2026-11-29T10:05:00Z","segments":23,"retransmits":3,"rttBuckets":[0,0,0,0,19]},
 {"peer":"mesh-c","address":"10.88.2.2:8080","state":"down","since":"2026-11-29T10:04:00Z",
  "consecutiveFailures":3,"lastOutcome":"timeout","lastRTT":"0s","rttP50":"0s","rttP99":"0s","loss":1,"pings":3},
 {"peer":"mesh-d","address":"10.88.2.3:8080","state":"unmeasured","since":"2026-11-29T10:05:00Z",
  "consecutiveFailures":0,"lastRTT":"0s","rttP50":"0s","rttP99":"0s","loss":0,"pings":0}]}`

func TestDecodeLinks(t *testing.T) {
	l, err := DecodeLinks([]byte(validLinks))
	if err != nil {
		t.Fatal(err)
	}
	if l.Pod != "mesh-a" || len(l.Links) != 3 || l.Links[0].RTTP99.String() != "3ms" || l.Links[1].State != LinkDown || l.Links[0].LastSuccess == nil {
		t.Fatalf("decoded %+v", l)
	}
	if loss, n := l.Links[0].SegmentLoss(); n != 23 || loss != 3.0/23 {
		t.Fatalf("segment loss %v over %d, want 3/23 over 23", loss, n)
	}
	if _, n := l.Links[1].SegmentLoss(); n != 0 {
		t.Fatalf("decoded %+v", l)
	}
}

func TestDecodeLinksRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `<html>`, "decoding links"},
		{"huge", `{"pod":"` + strings.Repeat("a", MaxLinksBytes) + `"}`, "more than 1048576"},
		{"bad pod", strings.Replace(validLinks, `"mesh-a"`, `"Mesh A"`, 1), `pod "Mesh A" is not a valid name`},
		{"window zero", strings.Replace(validLinks, `"window":20`, `"window":0`, 1), "window 0 is not 1-1000"},
		{"bad state", strings.Replace(validLinks, `"state":"up"`, `"state":"sideways"`, 1), `state "sideways" is not up, down or unmeasured`},
		{"down after one failure", strings.Replace(validLinks, `"consecutiveFailures":3`, `"consecutiveFailures":1`, 1), "down after 1 failures, want at least 2"},
		{"loss above 1", strings.Replace(validLinks, `"loss":0.05`, `"loss":1.5`, 1), "loss 1.5 is not 0-1"},
		{"p99 under p50", strings.Replace(validLinks, `"rttP99":"3ms"`, `"rttP99":"0.5ms"`, 1), "RTTs out of order"},
		{"more pings than the window", strings.Replace(validLinks, `"pings":20`, `"pings":21`, 1), "counts out of range"},
		{"too many RTT buckets", strings.Replace(validLinks, `"rttBuckets":[0,0,0,0,19]`, `"rttBuckets":[`+strings.Repeat("0,", 18)+`0]`, 1), "19 RTT buckets, at most 18"},
		{"more bucketed pings than pings", strings.Replace(validLinks, `"rttBuckets":[0,0,0,0,19]`, `"rttBuckets":[0,0,0,0,21]`, 1), "RTT buckets hold 21 pings, more than the 20"},
		{"negative retransmits", strings.Replace(validLinks, `"retransmits":3`, `"retransmits":-1`, 1), "TCP counts out of range"},
		{"more segments than a window can send", strings.Replace(validLinks, `"segments":23`, `"segments":1281`, 1), "TCP counts out of range (segments 1281, retransmits 3, at most 1280 each)"},
		{"bad address", strings.Replace(validLinks, `10.88.1.2:8080`, `10.88.1.2`, 1), "is not host:port"},
		{"a peer twice", strings.Replace(validLinks, `"peer":"mesh-c"`, `"peer":"mesh-b"`, 1), `peer "mesh-b" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeLinks([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeLinks: never panics; whatever it accepts is valid and survives
// a round trip.
func FuzzDecodeLinks(f *testing.F) {
	f.Add([]byte(validLinks))
	f.Add([]byte(`{"pod":"a","window":1,"links":[]}`))
	f.Add([]byte(`{"pod":"127.0.0.1:8080","window":20,"links":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeLinks(data)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("accepted invalid links: %v", err)
		}
		// What the localizer computes from stays within bounds.
		for _, k := range l.Links {
			if loss, n := k.SegmentLoss(); loss < 0 || loss > 1 || n < 0 || n > MaxSegmentsPerPing*l.Window {
				t.Fatalf("segment loss %v over %d from %+v", loss, n, k)
			}
		}
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeLinks(again); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
	})
}
