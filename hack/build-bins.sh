#!/usr/bin/env bash
# Builds the third-party binaries the project needs (Kubernetes, etcd, …) from
# the Go module proxy, once per version, into a cache outside the checkout so a
# fresh clone on the same machine (CI) reuses them; bin/<name> links into it.
#
#   hack/build-bins.sh kube-apiserver etcd …
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
require_dir "the checkout" "$root"
cache="${XDG_CACHE_HOME:-${HOME:?}/.cache}/simulated-peering/bin"
require_dir "the binary cache" "$cache"
mkdir -p "$cache" "$root/bin"

k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
-X k8s.io/component-base/version.gitTreeState=clean"

# from_deb NAME: Debian's prometheus package holds NAME in usr/bin; it is
# downloaded and unpacked, never installed (no service starts, nothing is
# written outside the cache).
from_deb() {
  local name=$1 out="$cache/$1-$PROMETHEUS_VERSION" tmp deb version
  if [[ ! -x $out ]]; then
    echo ">> unpacking $name $PROMETHEUS_VERSION from Debian's prometheus package (cached in $cache)" >&2
    tmp=$(mktemp -d)
    require_dir "the download folder" "$tmp"
    if ! (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null); then
      apt-get update -qq
      (cd "$tmp" && apt-get download -qq prometheus)
    fi
    deb=$(find "$tmp" -maxdepth 1 -name 'prometheus_*.deb' -print -quit)
    [[ -n $deb ]] || die "apt-get download prometheus left no .deb in $tmp"
    version=$(dpkg-deb -f "$deb" Version)
    [[ $version == "$PROMETHEUS_VERSION"+* ]] || die "Debian's prometheus is $version, not the pinned $PROMETHEUS_VERSION: change PROMETHEUS_VERSION in hack/lib.sh after checking it"
    dpkg-deb -x "$deb" "$tmp/root"
    [[ -x $tmp/root/usr/bin/$name ]] || die "Debian's prometheus $version has no usr/bin/$name"
    cp "$tmp/root/usr/bin/$name" "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$tmp"
  fi
  ln -sfn "$out" "$root/bin/$name"
}

# crds: the Prometheus Operator's CRDs for the objects config/monitoring
# ships, as its release publishes them (example/prometheus-operator-crd in
# its module), for envtest to validate against.
crds() {
  local out="$cache/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION" src tmp kind
  if [[ ! -d $out ]]; then
    src=$(cd "$root" && module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
    tmp="$out.tmp"
    require_dir "the CRD folder" "$tmp"
    rm -rf "$tmp" && mkdir -p "$tmp"
    for kind in podmonitors servicemonitors prometheusrules; do
      cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$tmp/"
    done
    mv "$tmp" "$out"
  fi
  ln -sfn "$out" "$root/bin/prometheus-operator-crds"
}

build() { # name
  local name=$1 module pkg version ldflags tags=""
  case $name in
    promtool) from_deb "$name"; return ;;
    prometheus-operator-crds) crds; return ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl)
      module=hack/k8s; pkg=k8s.io/kubernetes/cmd/$name; version=$K8S_VERSION; ldflags=$k8s_ldflags ;;
    etcd)
      module=hack/etcd; pkg=go.etcd.io/etcd/server/v3; version=$ETCD_VERSION; ldflags="-s -w" ;;
    containerd|containerd-shim-runc-v2|ctr)
      module=hack/containerd; pkg=github.com/containerd/containerd/v2/cmd/$name; version=$CONTAINERD_VERSION
      ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
      tags="no_btrfs,no_devmapper,no_zfs" ;;
    coredns)
      module=hack/coredns; pkg=github.com/coredns/coredns; version=$COREDNS_VERSION; ldflags="-s -w" ;;
    source-controller|kustomize-controller)
      module=hack/flux/$name; pkg=github.com/fluxcd/$name; version=$FLUX_CONTROLLERS_VERSION; ldflags="-s -w" ;;
    flux)
      module=hack/flux/cli; pkg=github.com/fluxcd/flux2/v2/cmd/flux; version=$FLUX_CLI_VERSION
      ldflags="-s -w -X main.VERSION=${FLUX_CLI_VERSION#v}" ;;
    kube-score)
      module=hack/kube-score; pkg=github.com/zegl/kube-score/cmd/kube-score; version=$KUBE_SCORE_VERSION
      ldflags="-s -w -X main.version=${KUBE_SCORE_VERSION#v}" ;;
    kube-router) # only its firewall runs (the advisory on v2.1.0 concerns its service proxy, which stays off)
      module=hack/kube-router; pkg=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router; version=$KUBE_ROUTER_VERSION
      ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${KUBE_ROUTER_VERSION}" ;;
    *) echo "build-bins: unknown binary $name" >&2; return 2 ;;
  esac
  local out="$cache/$name-$version"
  if [[ ! -x $out ]]; then
    echo ">> building $name $version (cached in $cache)" >&2
    local start=$SECONDS
    if [[ $name == flux ]]; then
      # cmd/flux embeds manifests/*.yaml, which Flux's release generates and the
      # module does not ship; only `flux install` reads them. Build from a
      # writable copy of the module with a placeholder there.
      local src tmp
      src=$(cd "$root/$module" && module_dir "github.com/fluxcd/flux2/v2@$version")
      [[ -d $src/cmd/flux ]] || die "$src is not the flux2 module (no cmd/flux)"
      tmp=$(mktemp -d)
      require_dir "the flux build folder" "$tmp"
      cp -r "$src/." "$tmp" && chmod -R u+w "$tmp" && mkdir -p "$tmp/cmd/flux/manifests"
      echo "# flux install manifests are not part of the Go module" >"$tmp/cmd/flux/manifests/placeholder.yaml"
      (cd "$tmp" && CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$out.tmp" ./cmd/flux)
      rm -rf "$tmp"
    else
      (cd "$root/$module" && CGO_ENABLED=0 go build -tags "$tags" -ldflags "$ldflags" -o "$out.tmp" "$pkg")
    fi
    mv "$out.tmp" "$out"
    echo ">> built $name in $((SECONDS - start))s" >&2
  fi
  ln -sfn "$out" "$root/bin/$name"
}

for name in "$@"; do build "$name"; done
