// Package peers holds the wire contract of the operator's peers API: the JSON
// document a server fetches to learn whom to ping. Both the operator (which
// serves it) and the server (which consumes it) import this package, so it
// must only ever import the standard library.
package peers

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query parameters of the peers endpoint.
const (
	// SelfParam names the asking pod; it is left out of its own list.
	SelfParam = "self"
	// WaitParam asks for a long-poll: hold the request until the revision
	// changes or the wait ends.
	WaitParam = "wait"
	// MaxWait caps WaitParam so a client cannot pin a request forever.
	MaxWait = 5 * time.Minute
)

// Pod-bound identity: a server sends its projected ServiceAccount token, minted
// by the kubelet for this audience and bound to its pod, as a bearer token;
// the operator answers only a member of the group, with its own view.
const (
	TokenAudience = "peering.simulated-peering.io"
	// TokenFile is where the rendered pod mounts it (the kubelet rotates it,
	// so the server reads it for each request).
	TokenFile = "/var/run/secrets/peering.simulated-peering.io/token"
	// TokenExpirationSeconds is the token's lifetime (the API's minimum); the
	// kubelet renews it at 80%.
	TokenExpirationSeconds = 600
)

// ResponderHeader names the pod that answered a /ping.
const ResponderHeader = "X-Peering-Pod"

// Document is the body of `GET /v1/namespaces/{ns}/peergroups/{name}/peers`.
type Document struct {
	// Group is "<namespace>/<name>" of the PeerGroup.
	Group string `json:"group"`
	// Revision is opaque: a hash of this pod's view (settings and peers),
	// also sent as the ETag. It changes exactly when the view does.
	Revision string `json:"revision"`
	// Order ranks documents: the highest resourceVersion the answering
	// operator replica's cache had reached. A server ignores a document whose
	// Order is lower than the one it applied (a replica whose cache is behind).
	Order        uint64   `json:"order,omitempty"`
	PingInterval Duration `json:"pingInterval"`
	PingTimeout  Duration `json:"pingTimeout"`
	Peers        []Peer   `json:"peers"`
}

// Peer is one server to ping.
type Peer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Node is the node the peer's pod runs on (empty for static peers).
	Node string `json:"node,omitempty"`
	// HostIP is that node's IP (empty for static peers): goldpinger's
	// host_ip label.
	HostIP string `json:"hostIP,omitempty"`
}

// Error is the body of every non-2xx answer of the peers API.
type Error struct {
	Error string `json:"error"`
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Path is the URL path of a group's peers endpoint.
func Path(namespace, name string) string {
	return "/v1/namespaces/" + url.PathEscape(namespace) + "/peergroups/" + url.PathEscape(name) + "/peers"
}

// Decode parses and validates a document. A document that decodes but fails
// Validate is an error too: a server must never apply half a config.
func Decode(data []byte) (Document, error) {
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return Document{}, fmt.Errorf("decoding peers document: %w", err)
	}
	if err := doc.Validate(); err != nil {
		return Document{}, fmt.Errorf("invalid peers document: %w", err)
	}
	return doc, nil
}

// Bounds a document must respect: the CRD's own, so a buggy or spoofed
// endpoint cannot turn a server into a load generator.
const (
	MinInterval = time.Second
	MinTimeout  = 100 * time.Millisecond
	// MaxPeers: a full-mesh document lists every Ready pod, self included:
	// 1,000 replicas (the CRD's maximum) plus a roll's surge of a quarter.
	MaxPeers    = 1250
	maxRevision = 64
)

// Validate reports the first thing wrong with a document.
func (d Document) Validate() error {
	ns, name, _ := strings.Cut(d.Group, "/")
	switch {
	case !isDNSLabel(ns) || !isDNSSubdomain(name):
		return fmt.Errorf("group %q is not <namespace>/<name>", d.Group)
	case d.Revision == "" || len(d.Revision) > maxRevision || strings.ContainsFunc(d.Revision, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' }):
		return fmt.Errorf("revision %q is not 1-%d printable characters without quotes", d.Revision, maxRevision)
	case d.PingInterval.Duration < MinInterval:
		return fmt.Errorf("pingInterval %s is shorter than %s", d.PingInterval, MinInterval)
	case d.PingTimeout.Duration < MinTimeout:
		return fmt.Errorf("pingTimeout %s is shorter than %s", d.PingTimeout, MinTimeout)
	case d.PingTimeout.Duration >= d.PingInterval.Duration:
		return fmt.Errorf("pingTimeout %s is not shorter than pingInterval %s", d.PingTimeout, d.PingInterval)
	case len(d.Peers) > MaxPeers:
		return fmt.Errorf("%d peers, more than %d", len(d.Peers), MaxPeers)
	}
	names := make(map[string]bool, len(d.Peers))
	addresses := make(map[string]bool, len(d.Peers))
	for i, p := range d.Peers {
		if !isDNSSubdomain(p.Name) {
			return fmt.Errorf("peers[%d]: name %q is not a valid object name", i, p.Name)
		}
		if err := ValidateAddress(p.Address); err != nil {
			return fmt.Errorf("peers[%d] (%s): %w", i, p.Name, err)
		}
		if p.Node != "" && !isDNSSubdomain(p.Node) {
			return fmt.Errorf("peers[%d] (%s): node %q is not a valid node name", i, p.Name, p.Node)
		}
		if names[p.Name] {
			return fmt.Errorf("peers[%d]: name %q appears twice", i, p.Name)
		}
		if addresses[p.Address] {
			return fmt.Errorf("peers[%d]: address %q appears twice", i, p.Address)
		}
		names[p.Name], addresses[p.Address] = true, true
	}
	return nil
}

// ValidateAddress accepts "host:port" where host is an IP address or a DNS
// name and port is 1–65535.
func ValidateAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", address)
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		return fmt.Errorf("address %q: host is neither an IP address nor a DNS name", address)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q has port %q, want 1-65535", address, port)
	}
	return nil
}

// isDNSLabel: RFC 1123 label, as Kubernetes namespaces are.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// isDNSSubdomain: RFC 1123 subdomain, as Kubernetes object names are.
func isDNSSubdomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// isDNSName is a host name as written in PEERS: a subdomain, in any case,
// optionally ending with a dot.
func isDNSName(s string) bool {
	return isDNSSubdomain(strings.ToLower(strings.TrimSuffix(s, ".")))
}
