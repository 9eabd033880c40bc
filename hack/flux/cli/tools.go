//go:build tools

// Package tools pins the command hack/build-bins.sh builds.
package tools

import _ "github.com/fluxcd/flux2/v2/cmd/flux"
