#!/usr/bin/env bash
# Builds the project's images without Docker and imports them into every
# running node's containerd (namespace k8s.io; node.sh imports them into a
# node it starts): the server (also as :dev2, a second
# tag of the same image for roll tests), the operator, CoreDNS and the pause
# sandbox. Same entrypoint, user (65532) and ports as the Dockerfiles. And the
# monitoring harness's (hack/monitoring): the Prometheus Operator, its config
# reloader and Prometheus with its web UI.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
out=$STATE/images
mkdir -p "$out"
build() { (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$@"); }
build "$BIN/server" ./server
build "$BIN/operator" ./operator
build "$BIN/pause" ./hack/cluster/pause
(cd "$ROOT/hack/image" && CGO_ENABLED=0 go build -o "$BIN/image-builder" .)

image() { # binary-or-folder tag ports user [entrypoint [workdir]]
  local file files=(-binary "$1")
  file=$out/$(echo "$2" | tr '/:' '__').tar
  [[ -d $1 ]] && files=(-root "$1")
  [[ -n ${5-} ]] && files+=(-entrypoint "$5")
  [[ -n ${6-} ]] && files+=(-workdir "$6")
  "$BIN/image-builder" "${files[@]}" -tag "$2" -port "$3" -user "$4" -out "$file" >/dev/null
}
log "images: server, operator, coredns, pause, prometheus-operator, prometheus-config-reloader, prometheus"
image "$BIN/server" docker.io/simulated-peering/server:dev 8080 65532:65532
image "$BIN/server" docker.io/simulated-peering/server:dev2 8080 65532:65532
image "$BIN/operator" docker.io/simulated-peering/operator:dev 8080,8081,8082 65532:65532
image "$BIN/coredns" docker.io/simulated-peering/coredns:local 1053 65532:65532
image "$BIN/pause" docker.io/simulated-peering/pause:local "" 65535:65535
image "$BIN/prometheus-operator" docker.io/simulated-peering/prometheus-operator:local 8080 65534:65534
# The Prometheus Operator runs the reloader as /bin/prometheus-config-reloader.
image "$BIN/prometheus-config-reloader" docker.io/simulated-peering/prometheus-config-reloader:local 8080 65534:65534 /bin/prometheus-config-reloader
# Prometheus finds its web UI in web/ui/static when it runs from a folder
# named prometheus.
image "$BIN/prometheus-root" docker.io/simulated-peering/prometheus:local 9090 65534:65534 /bin/prometheus /opt/prometheus
for dir in "$STATE"/nodes/*/; do
  running containerd "${dir}pids" && import_images "${dir}containerd/containerd.sock"
done
exit 0
