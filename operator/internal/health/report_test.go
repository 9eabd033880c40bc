package health

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// answer is a /links answer as a server encodes it: one link up and lossy,
// one down, one unmeasured, one to a pod that does not count.
func answer() peers.Links {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	buckets := make([]int, len(peers.RTTBucketBounds)+1)
	buckets[peers.RTTBucket(time.Millisecond)] = 19
	return peers.Links{Pod: "mesh-a", Node: "node-1", Revision: "r1", Window: 20, Links: []peers.Link{
		{Peer: "mesh-b", Address: "10.88.1.2:8080", Node: "node-2", State: peers.LinkUp, Since: t0, LastOutcome: "ok",
			LastRTT: peers.Duration{Duration: time.Millisecond}, RTTP50: peers.Duration{Duration: time.Millisecond},
			RTTP99: peers.Duration{Duration: 3 * time.Millisecond}, Pings: 20, Segments: 23, Retransmits: 3, RTTBuckets: buckets},
		{Peer: "mesh-c", Address: "10.88.2.2:8080", State: peers.LinkDown, Since: t0.Add(time.Minute), ConsecutiveFailures: 3,
			LastOutcome: "timeout", Loss: 1, Pings: 3},
		{Peer: "mesh-d", Address: "10.88.2.3:8080", State: peers.LinkUnmeasured, Since: t0},
		{Peer: "mesh-new", Address: "10.88.2.4:8080", State: peers.LinkUp, Since: t0, Pings: 1, RTTBuckets: buckets[:5]},
	}}
}

func counting(names ...string) func(string) (string, bool) {
	set := map[string]string{}
	for _, n := range names {
		set[n] = n
	}
	return func(peer string) (string, bool) { s, ok := set[peer]; return s, ok }
}

// Read straight from the wire, a report holds what digesting the decoded
// answer holds, with the same peers left out.
func TestDecodeReportReadsWhatDigestReads(t *testing.T) {
	l := answer()
	body, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	keep := counting("mesh-b", "mesh-c", "mesh-d")
	got, err := DecodeReport(body, keep)
	if err != nil {
		t.Fatal(err)
	}
	if want := Digest(l, keep); !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeReport = %+v\nwant %+v", got, want)
	}
	if len(got.Links) != 3 || got.Outcomes["mesh-c"] != "timeout" || got.Buckets[peers.RTTBucket(time.Millisecond)] != 19 {
		t.Fatalf("report %+v", got)
	}
	if _, err := DecodeReport([]byte(`{"pod":"a","window":1,"links":null}`), nil); err != nil {
		t.Fatalf("no links: %v", err)
	}
}

func TestDecodeReportRejects(t *testing.T) {
	body, err := json.Marshal(answer())
	if err != nil {
		t.Fatal(err)
	}
	valid := string(body)
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `<html>`, "not a JSON object"},
		{"huge", `{"pod":"` + strings.Repeat("a", peers.MaxLinksBytes) + `"}`, "more than 1048576"},
		{"no window", `{"pod":"a","links":[]}`, "window must come before links"},
		{"window zero", strings.Replace(valid, `"window":20`, `"window":0`, 1), "window 0 is not 1-1000"},
		{"bad state", strings.Replace(valid, `"state":"up"`, `"state":"sideways"`, 1), `state "sideways" is not up, down or unmeasured`},
		{"bad p99", strings.Replace(valid, `"rttP99":"3ms"`, `"rttP99":"soon"`, 1), "rttP99"},
		{"negative p99", strings.Replace(valid, `"rttP99":"3ms"`, `"rttP99":"-3ms"`, 1), "negative"},
		{"too many RTT buckets", strings.Replace(valid, `"rttBuckets":[0,0,0,0,19`, `"rttBuckets":[`+strings.Repeat("0,", 18)+`0`, 1), "RTT buckets, at most 18"},
		{"more bucketed pings than the window", strings.Replace(valid, `"rttBuckets":[0,0,0,0,19`, `"rttBuckets":[0,0,0,0,21`, 1), "more than the window of 20"},
		{"negative retransmits", strings.Replace(valid, `"retransmits":3`, `"retransmits":-1`, 1), "TCP counts out of range"},
		{"more segments than a window can send", strings.Replace(valid, `"segments":23`, `"segments":1281`, 1), "at most 1280 each"},
		{"a peer twice", strings.Replace(valid, `"peer":"mesh-c"`, `"peer":"mesh-b"`, 1), `peer "mesh-b" appears twice`},
		{"a long outcome", strings.Replace(valid, `"lastOutcome":"timeout"`, `"lastOutcome":"`+strings.Repeat("x", 33)+`"`, 1), "too long"},
		{"trailing garbage", valid[:len(valid)-1] + `,"x":`, "decoding links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeReport([]byte(tc.body), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeReport: never panics; whatever it accepts stays within bounds;
// an answer the wire contract accepts, as a server encodes it, reads the
// same as digesting it.
func FuzzDecodeReport(f *testing.F) {
	body, _ := json.Marshal(answer())
	f.Add(body)
	f.Add([]byte(`{"pod":"a","window":1,"links":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := DecodeReport(data, nil); err == nil {
			if len(r.Links) > peers.MaxPeers {
				t.Fatalf("%d records", len(r.Links))
			}
			for _, rec := range r.Links {
				if rec.Segments < 0 || rec.Retransmits < 0 || rec.Segments > peers.MaxSegmentsPerPing*1000 || rec.P99 < 0 {
					t.Fatalf("record out of bounds: %+v", rec)
				}
			}
		}
		l, err := peers.DecodeLinks(data)
		if err != nil {
			return
		}
		canonical, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeReport(canonical, nil)
		if err != nil {
			t.Fatalf("refused a valid answer %s: %v", canonical, err)
		}
		if want := Digest(l, nil); !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeReport = %+v\nwant %+v", got, want)
		}
	})
}
