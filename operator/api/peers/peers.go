// Package peers holds the wire contract of the operator's peers API: the JSON
// document a server fetches to learn whom to ping. Both the operator (which
// serves it) and the server (which consumes it) import this package, so it
// must only ever import the standard library.
package peers

import (
	"encoding/json"
	"errors"
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

// ResponderHeader names the pod that answered a /ping.
const ResponderHeader = "X-Peering-Pod"

// Document is the body of `GET /v1/namespaces/{ns}/peergroups/{name}/peers`.
type Document struct {
	// Group is "<namespace>/<name>" of the PeerGroup.
	Group string `json:"group"`
	// Revision is opaque; it changes whenever anything else in the document
	// changes and is also sent as the ETag.
	Revision     string   `json:"revision"`
	PingInterval Duration `json:"pingInterval"`
	PingTimeout  Duration `json:"pingTimeout"`
	Peers        []Peer   `json:"peers"`
}

// Peer is one server to ping.
type Peer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
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

// Validate reports the first thing wrong with a document.
func (d Document) Validate() error {
	switch {
	case d.Group == "":
		return errors.New("group is empty")
	case d.Revision == "":
		return errors.New("revision is empty")
	case d.PingInterval.Duration <= 0:
		return fmt.Errorf("pingInterval %s is not positive", d.PingInterval)
	case d.PingTimeout.Duration <= 0:
		return fmt.Errorf("pingTimeout %s is not positive", d.PingTimeout)
	case d.PingTimeout.Duration >= d.PingInterval.Duration:
		return fmt.Errorf("pingTimeout %s is not shorter than pingInterval %s", d.PingTimeout, d.PingInterval)
	}
	names := make(map[string]bool, len(d.Peers))
	addresses := make(map[string]bool, len(d.Peers))
	for i, p := range d.Peers {
		if p.Name == "" {
			return fmt.Errorf("peers[%d]: name is empty", i)
		}
		if err := ValidateAddress(p.Address); err != nil {
			return fmt.Errorf("peers[%d] (%s): %w", i, p.Name, err)
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

// ValidateAddress accepts "host:port" with a non-empty host free of spaces
// and slashes and a port in 1–65535.
func ValidateAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("address %q is not host:port", address)
	}
	if host == "" || strings.ContainsAny(host, " \t/?#@") {
		return fmt.Errorf("address %q has no valid host", address)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q has port %q, want 1-65535", address, port)
	}
	return nil
}
