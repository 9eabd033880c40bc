# shellcheck shell=bash
# Shared by every script in hack/: pinned versions and guards for paths that
# come from a variable or a command. These scripts run as root and remove and
# unmount things, so a path is checked before it is used, never assumed.
# Sourced, not run.

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
FLUX_CONTROLLERS_VERSION=v1.9.6
FLUX_CLI_VERSION=v2.9.5
KUBE_SCORE_VERSION=v1.20.0
KUBE_ROUTER_VERSION=v2.1.0
# promtool for the rule tests: Debian bookworm's, unpacked from its .deb (a
# download, not a build).
DEBIAN_PROMETHEUS_VERSION=2.42.0
# The Prometheus the local cluster runs (hack/monitoring): built from the
# module proxy (Prometheus tags v3.X.Y as module v0.30X.Y) with its web UI
# built by npm; Debian's lacks Kubernetes service discovery. The newest the
# Prometheus Operator below supports.
PROMETHEUS_VERSION=v3.5.0
PROMETHEUS_MODULE_VERSION=v0.305.0
# The Prometheus Operator whose CRDs the monitoring objects are checked
# against, and which runs the local cluster's Prometheus.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
export K8S_VERSION ETCD_VERSION CONTAINERD_VERSION COREDNS_VERSION FLUX_CONTROLLERS_VERSION FLUX_CLI_VERSION KUBE_SCORE_VERSION \
  KUBE_ROUTER_VERSION DEBIAN_PROMETHEUS_VERSION PROMETHEUS_VERSION PROMETHEUS_MODULE_VERSION PROMETHEUS_OPERATOR_VERSION

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# require_dir WHAT PATH: fails unless PATH is an absolute path at least two
# levels below / (so never "", "/", "/var" or a relative path), without "..".
# It does not require PATH to exist.
require_dir() {
  local what=$1 path=${2-}
  [[ -n $path ]] || die "$what is empty"
  [[ $path == /* ]] || die "$what is not an absolute path: '$path'"
  [[ /$path/ != */../* && /$path/ != */./* ]] || die "$what contains . or ..: '$path'"
  local trimmed=${path%/}
  trimmed=${trimmed//\/\//\/}
  [[ $trimmed =~ ^/[^/]+/[^/]+ ]] || die "$what is too close to /: '$path'"
}

# module_dir MODULE@VERSION: downloads the module into the module cache (a
# no-op when it is there) and prints its directory. Fails when go does, or
# when the answer is not a directory holding that module's go.mod: asking
# `go list -m` first prints an empty line on a machine that never downloaded
# the module, and an empty path here once meant copying /.
module_dir() {
  local mod=$1 json dir
  json=$(go mod download -json "$mod") || die "go mod download $mod failed: $json"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  require_dir "module directory of $mod" "$dir"
  [[ -f $dir/go.mod ]] || die "module directory of $mod ('$dir') has no go.mod"
  printf '%s\n' "$dir"
}
