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
  local name=$1 out="$cache/$1-$DEBIAN_PROMETHEUS_VERSION" tmp deb version
  if [[ ! -x $out ]]; then
    echo ">> unpacking $name $DEBIAN_PROMETHEUS_VERSION from Debian's prometheus package (cached in $cache)" >&2
    tmp=$(mktemp -d)
    require_dir "the download folder" "$tmp"
    if ! (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null); then
      apt-get update -qq
      (cd "$tmp" && apt-get download -qq prometheus)
    fi
    deb=$(find "$tmp" -maxdepth 1 -name 'prometheus_*.deb' -print -quit)
    [[ -n $deb ]] || die "apt-get download prometheus left no .deb in $tmp"
    version=$(dpkg-deb -f "$deb" Version)
    [[ $version == "$DEBIAN_PROMETHEUS_VERSION"+* ]] || die "Debian's prometheus is $version, not the pinned $DEBIAN_PROMETHEUS_VERSION: change DEBIAN_PROMETHEUS_VERSION in hack/lib.sh after checking it"
    dpkg-deb -x "$deb" "$tmp/root"
    [[ -x $tmp/root/usr/bin/$name ]] || die "Debian's prometheus $version has no usr/bin/$name"
    cp "$tmp/root/usr/bin/$name" "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$tmp"
  fi
  ln -sfn "$out" "$root/bin/$name"
}

# prometheus_ui: Prometheus's web UI (web/ui/mantine-ui of its module), built
# with the machine's Node.js and npm from the npm registry, as its release
# does (web/ui/build_ui.sh), from a writable copy of the module's web/ui.
prometheus_ui() {
  local out="$cache/prometheus-ui-$PROMETHEUS_VERSION" src tmp
  if [[ ! -f $out/index.html ]]; then
    echo ">> building the Prometheus $PROMETHEUS_VERSION web UI with npm (cached in $cache)" >&2
    command -v npm >/dev/null || "$root/hack/apt-install.sh" nodejs
    src=$(cd "$root" && module_dir "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION")
    tmp=$(mktemp -d)
    require_dir "the UI build folder" "$tmp"
    require_dir "the UI cache" "$out"
    cp -r "$src/web/ui/." "$tmp" && chmod -R u+w "$tmp"
    (cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error &&
      for ws in @prometheus-io/lezer-promql @prometheus-io/codemirror-promql @prometheus-io/mantine-ui; do
        npm run build --silent -w "$ws" >/dev/null || exit 1
      done)
    [[ -f $tmp/mantine-ui/dist/index.html ]] || die "the web UI build left no mantine-ui/dist/index.html"
    rm -rf "$out" && mv "$tmp/mantine-ui/dist" "$out"
    rm -rf "$tmp"
  fi
}

# prometheus_root: the files of the Prometheus image the local cluster runs
# (hack/cluster/images.sh): the server, and its web UI where the server looks
# for it when run from a folder named prometheus (the image's working folder).
prometheus_root() {
  local out="$cache/prometheus-root-$PROMETHEUS_VERSION" img
  if [[ ! -x $out/bin/prometheus ]]; then
    build prometheus
    prometheus_ui
    img="$out.tmp"
    require_dir "the image folder" "$img"
    require_dir "the image cache" "$out"
    rm -rf "$img" && mkdir -p "$img/bin" "$img/opt/prometheus/web/ui/static"
    cp "$cache/prometheus-$PROMETHEUS_VERSION" "$img/bin/prometheus"
    cp -r "$cache/prometheus-ui-$PROMETHEUS_VERSION" "$img/opt/prometheus/web/ui/static/mantine-ui"
    rm -rf "$out" && mv "$img" "$out"
  fi
  ln -sfn "$out" "$root/bin/prometheus-root"
}

# crds: the Prometheus Operator's CRDs as its release publishes them
# (example/prometheus-operator-crd in its module): envtest validates the
# objects config/monitoring ships against them; the local cluster installs
# them for the operator itself (hack/monitoring/up.sh).
crds() {
  local out="$cache/prometheus-operator-crds-$PROMETHEUS_OPERATOR_VERSION" src tmp
  # A cache of an earlier version of this script holds only the three CRDs
  # of the shipped objects: it is replaced.
  if [[ ! -f $out/monitoring.coreos.com_prometheuses.yaml ]]; then
    src=$(cd "$root" && module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
    tmp="$out.tmp"
    require_dir "the CRD folder" "$tmp"
    require_dir "the CRD cache" "$out"
    rm -rf "$tmp" && mkdir -p "$tmp"
    cp "$src"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$tmp/"
    [[ -f $tmp/monitoring.coreos.com_prometheuses.yaml ]] || die "$src has no Prometheus CRD"
    rm -rf "$out" && mv "$tmp" "$out"
  fi
  ln -sfn "$out" "$root/bin/prometheus-operator-crds"
}

# in_module_copy MODULE@VERSION PREPARE: builds $pkg with $ldflags into
# $out.tmp (build's locals) from a writable copy of a module that does not
# build as downloaded; PREPARE runs in the copy first.
in_module_copy() {
  local src tmp
  src=$(cd "$root" && module_dir "$1")
  tmp=$(mktemp -d)
  require_dir "the build folder" "$tmp"
  cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
  (cd "$tmp" && "$2" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -ldflags "$ldflags" -o "$out.tmp" "$pkg")
  rm -rf "$tmp"
}

# flux_manifests: cmd/flux embeds manifests/*.yaml, which Flux's release
# generates and the module does not ship; only `flux install` reads them.
flux_manifests() {
  [[ -d cmd/flux ]] || die "$PWD is not the flux2 module (no cmd/flux)"
  mkdir -p cmd/flux/manifests
  echo "# flux install manifests are not part of the Go module" >cmd/flux/manifests/placeholder.yaml
}

# kubernetes_sd_only: Prometheus registers every service discovery its
# release has (plugins/plugins.go, generated from plugins.yml); the local
# cluster's needs Kubernetes' only, which saves most of the build.
kubernetes_sd_only() {
  [[ -f plugins/plugins.go ]] || die "$PWD is not the Prometheus module (no plugins/plugins.go)"
  printf '%s\n' "package plugins" "" 'import _ "github.com/prometheus/prometheus/discovery/kubernetes"' >plugins/plugins.go
}

# own_api_modules: the Prometheus Operator's go.mod replaces its API and
# client modules with its own folders, which its module zip leaves out; its
# go.mod requires the same versions, which the module proxy serves.
own_api_modules() {
  go mod edit -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring \
    -dropreplace=github.com/prometheus-operator/prometheus-operator/pkg/client
}

build() { # name
  local name=$1 module pkg version ldflags tags=""
  case $name in
    promtool) from_deb "$name"; return ;;
    prometheus-operator-crds) crds; return ;;
    prometheus-root) prometheus_root; return ;;
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
      module=hack/flux/cli; pkg=./cmd/flux; version=$FLUX_CLI_VERSION
      ldflags="-s -w -X main.VERSION=${FLUX_CLI_VERSION#v}" ;;
    prometheus) # pkg is relative to the module's copy
      pkg=./cmd/prometheus; version=$PROMETHEUS_VERSION
      ldflags="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}" ;;
    prometheus-operator|prometheus-config-reloader) # pkg is relative to the module's copy
      pkg=./cmd/$name; [[ $name == prometheus-operator ]] && pkg=./cmd/operator
      version=$PROMETHEUS_OPERATOR_VERSION
      ldflags="-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}" ;;
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
    case $name in
      flux) in_module_copy "github.com/fluxcd/flux2/v2@$version" flux_manifests ;;
      prometheus) in_module_copy "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" kubernetes_sd_only ;;
      prometheus-operator|prometheus-config-reloader)
        in_module_copy "github.com/prometheus-operator/prometheus-operator@$version" own_api_modules ;;
      *) (cd "$root/$module" && CGO_ENABLED=0 go build -tags "$tags" -ldflags "$ldflags" -o "$out.tmp" "$pkg") ;;
    esac
    mv "$out.tmp" "$out"
    echo ">> built $name in $((SECONDS - start))s" >&2
  fi
  ln -sfn "$out" "$root/bin/$name"
}

for name in "$@"; do build "$name"; done
