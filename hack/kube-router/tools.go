//go:build tools

// Package tools pins kube-router, whose network-policy controller alone
// enforces NetworkPolicies on the local cluster.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
