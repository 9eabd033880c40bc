//go:build tools

// Package tools pins the CoreDNS command hack/build-bins.sh builds.
package tools

import _ "github.com/coredns/coredns"
