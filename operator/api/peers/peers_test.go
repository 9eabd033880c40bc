package peers

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const validDoc = `{"group":"peering-dev/mesh","revision":"7f3a9c","pingInterval":"10s","pingTimeout":"2s",
 "peers":[{"name":"mesh-x2bwx","address":"10.88.0.12:8080"},{"name":"mesh-8fh2x","address":"10.88.0.13:8080","node":"node-2"}]}`

func TestDecodeValidDocument(t *testing.T) {
	doc, err := Decode([]byte(validDoc))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Group != "peering-dev/mesh" || doc.Revision != "7f3a9c" || doc.PingInterval.Duration != 10*time.Second ||
		doc.PingTimeout.Duration != 2*time.Second || len(doc.Peers) != 2 || doc.Peers[1] != (Peer{Name: "mesh-8fh2x", Address: "10.88.0.13:8080", Node: "node-2"}) {
		t.Fatalf("decoded %+v", doc)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `pong`, "decoding peers document"},
		{"duration not a string", strings.Replace(validDoc, `"10s"`, `10`, 1), "duration must be a string"},
		{"bad duration", strings.Replace(validDoc, `"10s"`, `"ten"`, 1), `invalid duration "ten"`},
		{"no group", strings.Replace(validDoc, `"peering-dev/mesh"`, `""`, 1), `group "" is not <namespace>/<name>`},
		{"group without namespace", strings.Replace(validDoc, `"peering-dev/mesh"`, `"mesh"`, 1), `group "mesh" is not`},
		{"no revision", strings.Replace(validDoc, `"7f3a9c"`, `""`, 1), `revision "" is not 1-64 printable`},
		{"revision with a quote", strings.Replace(validDoc, `"7f3a9c"`, `"7f\"3a"`, 1), `revision "7f\"3a" is not`},
		{"zero interval", strings.Replace(validDoc, `"10s"`, `"0s"`, 1), "pingInterval 0s is shorter than 1s"},
		{"interval under 1s", strings.Replace(validDoc, `"10s"`, `"999ms"`, 1), "pingInterval 999ms is shorter than 1s"},
		{"negative timeout", strings.Replace(validDoc, `"2s"`, `"-2s"`, 1), "pingTimeout -2s is shorter than 100ms"},
		{"timeout under 100ms", strings.Replace(validDoc, `"2s"`, `"99ms"`, 1), "pingTimeout 99ms is shorter than 100ms"},
		{"timeout not shorter", strings.Replace(validDoc, `"2s"`, `"10s"`, 1), "pingTimeout 10s is not shorter than pingInterval 10s"},
		{"too many peers", manyPeers(MaxPeers + 1), "1251 peers, more than 1250"},
		{"empty name", strings.Replace(validDoc, `"mesh-x2bwx"`, `""`, 1), `peers[0]: name "" is not a valid object name`},
		{"name in capitals", strings.Replace(validDoc, `"mesh-x2bwx"`, `"Mesh"`, 1), `peers[0]: name "Mesh" is not a valid object name`},
		{"bad node", strings.Replace(validDoc, `"node-2"`, `"node 2"`, 1), `peers[1] (mesh-8fh2x): node "node 2" is not a valid node name`},
		{"no port", strings.Replace(validDoc, `10.88.0.12:8080`, `10.88.0.12`, 1), `peers[0] (mesh-x2bwx): address "10.88.0.12" is not host:port`},
		{"port zero", strings.Replace(validDoc, `10.88.0.12:8080`, `10.88.0.12:0`, 1), `want 1-65535`},
		{"empty host", strings.Replace(validDoc, `10.88.0.12:8080`, `:8080`, 1), `host is neither an IP address nor a DNS name`},
		{"host with a path", strings.Replace(validDoc, `10.88.0.12:8080`, `evil.example/x:8080`, 1), `host is neither`},
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

// The bounds are inclusive where the CRD's are: 1s, 100ms, 1,000 peers,
// host names as well as IPs.
func TestDecodeAcceptsTheBounds(t *testing.T) {
	doc := strings.NewReplacer(`"10s"`, `"1s"`, `"2s"`, `"100ms"`, `10.88.0.12:8080`, `peer-0.example.org:8080`, `10.88.0.13:8080`, `[fd00::1]:8080`).Replace(validDoc)
	for _, body := range []string{doc, manyPeers(MaxPeers)} {
		if _, err := Decode([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
}

func manyPeers(n int) string {
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf(`{"name":"p-%d","address":"10.0.%d.%d:80"}`, i, i/250, i%250))
	}
	return `{"group":"ns/g","revision":"r","pingInterval":"10s","pingTimeout":"1s","peers":[` + strings.Join(list, ",") + `]}`
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
