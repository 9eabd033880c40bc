package peers

import (
	"strings"
	"testing"
	"time"
)

const validDoc = `{"group":"peering-dev/mesh","revision":"7f3a9c","pingInterval":"10s","pingTimeout":"2s",
 "peers":[{"name":"mesh-x2bwx","address":"10.88.0.12:8080"},{"name":"mesh-8fh2x","address":"10.88.0.13:8080"}]}`

func TestDecodeValidDocument(t *testing.T) {
	doc, err := Decode([]byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Group != "peering-dev/mesh" || doc.Revision != "7f3a9c" || doc.PingInterval.Duration != 10*time.Second ||
		doc.PingTimeout.Duration != 2*time.Second || len(doc.Peers) != 2 || doc.Peers[1] != (Peer{"mesh-8fh2x", "10.88.0.13:8080"}) {
		t.Fatalf("decoded %+v", doc)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `pong`, "decoding peers document"},
		{"duration not a string", strings.Replace(validDoc, `"10s"`, `10`, 1), "duration must be a string"},
		{"bad duration", strings.Replace(validDoc, `"10s"`, `"ten"`, 1), `invalid duration "ten"`},
		{"no group", strings.Replace(validDoc, `"peering-dev/mesh"`, `""`, 1), "group is empty"},
		{"no revision", strings.Replace(validDoc, `"7f3a9c"`, `""`, 1), "revision is empty"},
		{"zero interval", strings.Replace(validDoc, `"10s"`, `"0s"`, 1), "pingInterval 0s is not positive"},
		{"negative timeout", strings.Replace(validDoc, `"2s"`, `"-2s"`, 1), "pingTimeout -2s is not positive"},
		{"timeout not shorter", strings.Replace(validDoc, `"2s"`, `"10s"`, 1), "pingTimeout 10s is not shorter than pingInterval 10s"},
		{"empty name", strings.Replace(validDoc, `"mesh-x2bwx"`, `""`, 1), "peers[0]: name is empty"},
		{"no port", strings.Replace(validDoc, `10.88.0.12:8080`, `10.88.0.12`, 1), `peers[0] (mesh-x2bwx): address "10.88.0.12" is not host:port`},
		{"port zero", strings.Replace(validDoc, `10.88.0.12:8080`, `10.88.0.12:0`, 1), `want 1-65535`},
		{"empty host", strings.Replace(validDoc, `10.88.0.12:8080`, `:8080`, 1), `has no valid host`},
		{"duplicate name", strings.Replace(validDoc, `"mesh-8fh2x"`, `"mesh-x2bwx"`, 1), `peers[1]: name "mesh-x2bwx" appears twice`},
		{"duplicate address", strings.Replace(validDoc, `10.88.0.13:8080`, `10.88.0.12:8080`, 1), `peers[1]: address "10.88.0.12:8080" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	b, err := Duration{1500 * time.Millisecond}.MarshalJSON()
	if err != nil || string(b) != `"1.5s"` {
		t.Fatalf("MarshalJSON = %s, %v", b, err)
	}
}

func TestPathEscapes(t *testing.T) {
	if got := Path("peering-dev", "mesh"); got != "/v1/namespaces/peering-dev/peergroups/mesh/peers" {
		t.Fatal(got)
	}
	if got := Path("a/b", "c d"); got != "/v1/namespaces/a%2Fb/peergroups/c%20d/peers" {
		t.Fatal(got)
	}
}
