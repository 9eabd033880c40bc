// Package peersapi serves the peers API: each server's list of peers, read
// from the manager's informer cache and long-polled by the servers.
package peersapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Request is a parsed GET …/peers.
type Request struct {
	Group types.NamespacedName
	Self  string        // the asking pod, left out of its own list ("" = nobody)
	Wait  time.Duration // long-poll; 0 answers at once
}

// apiError is an answer other than 200/304, written as a peers.Error body.
type apiError struct {
	Status  int
	Message string
	// RetryAfter, if set, is sent as Retry-After (seconds): the caller is
	// to come back, not to give up.
	RetryAfter string
}

func (e *apiError) Error() string { return e.Message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// ParseRequest checks the method, path and query of a request to
// /v1/namespaces/{ns}/peergroups/{name}/peers. It never panics and reports
// every problem as a 4xx.
func ParseRequest(method string, u *url.URL) (Request, *apiError) {
	parts := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if len(parts) != 6 || parts[0] != "v1" || parts[1] != "namespaces" || parts[3] != "peergroups" || parts[5] != "peers" {
		return Request{}, &apiError{Status: http.StatusNotFound, Message: "no such endpoint: want /v1/namespaces/{namespace}/peergroups/{name}/peers"}
	}
	if method != http.MethodGet && method != http.MethodHead {
		return Request{}, &apiError{Status: http.StatusMethodNotAllowed, Message: "method " + method + " not allowed: use GET"}
	}
	ns, err1 := url.PathUnescape(parts[2])
	name, err2 := url.PathUnescape(parts[4])
	if err1 != nil || err2 != nil {
		return Request{}, badRequest("malformed path escape in %q", u.EscapedPath())
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return Request{}, badRequest("invalid namespace %q: %s", ns, errs[0])
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Request{}, badRequest("invalid peergroup name %q: %s", name, errs[0])
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Request{}, badRequest("malformed query: %v", err)
	}
	r := Request{Group: types.NamespacedName{Namespace: ns, Name: name}, Self: q.Get(peers.SelfParam)}
	if r.Self != "" {
		if errs := validation.IsDNS1123Subdomain(r.Self); len(errs) > 0 {
			return Request{}, badRequest("invalid %s=%q: %s", peers.SelfParam, r.Self, errs[0])
		}
	}
	if w := q.Get(peers.WaitParam); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 || d > peers.MaxWait {
			return Request{}, badRequest("invalid %s=%q: want a duration from 0s to %s, such as 30s", peers.WaitParam, w, peers.MaxWait)
		}
		r.Wait = d
	}
	return r, nil
}
