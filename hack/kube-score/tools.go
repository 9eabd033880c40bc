//go:build tools

// Package tools pins kube-score, which checks what the operator renders.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
